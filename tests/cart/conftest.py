import pytest

from tests.factories import ProductFactory, ProductVariantFactory


@pytest.fixture
def ring(db):
    """An engravable ring variant with 3 in stock at £250."""
    return ProductVariantFactory(product=ProductFactory(name="Aurora Ring", is_engravable=True), stock=3)


@pytest.fixture
def pendant(db):
    """A pendant that cannot be engraved, 5 in stock at £250."""
    return ProductVariantFactory(product=ProductFactory(name="Lune Pendant", is_engravable=False), stock=5)
