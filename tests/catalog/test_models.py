import pytest
from django.db import IntegrityError, transaction

from tests.factories import ProductImageFactory, ProductVariantFactory

pytestmark = pytest.mark.django_db


def test_stock_cannot_go_negative_in_the_database():
    variant = ProductVariantFactory(stock=1)
    variant.stock = -1
    with pytest.raises(IntegrityError), transaction.atomic():
        variant.save()


def test_sku_is_unique():
    ProductVariantFactory(sku="RING-1")
    with pytest.raises(IntegrityError), transaction.atomic():
        ProductVariantFactory(sku="RING-1")


def test_image_needs_alt_text():
    with pytest.raises(IntegrityError), transaction.atomic():
        ProductImageFactory(alt_text="")
