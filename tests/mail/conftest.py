import pytest

from tests.factories import ProductVariantFactory


@pytest.fixture
def ring(db):
    """A piece with stock to spare: each order placed from it queues one confirmation e-mail."""
    return ProductVariantFactory(stock=50)
