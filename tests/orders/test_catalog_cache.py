"""Orders change stock with queryset updates (no signals): the cached catalogue pages must still show
the new stock at once, and checkout must never rely on anything cached (issue #7)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from catalog.models import ProductVariant
from orders.models import OrderStatus
from orders.services import OutOfStockError
from orders.workflow import order_transition
from tests.factories import StaffUserFactory
from tests.orders.conftest import cart_with, place

pytestmark = pytest.mark.django_db

SHOP = reverse("catalog:product-list")


def page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def product_reads(client, url: str) -> tuple[str, int]:
    """The page, and how many of its queries read the catalogue's product tables (0: served from the cache)."""
    with CaptureQueriesContext(connection) as queries:
        text = page(client, url)
    return text, sum('"catalog_product' in q["sql"] for q in queries.captured_queries)


def test_order_and_cancellation_show_on_cached_pages_at_once(client, necklace, django_capture_on_commit_callbacks):
    cold, cold_reads = product_reads(client, SHOP)
    warm, warm_reads = product_reads(client, SHOP)
    assert "Only 2 left" in cold
    assert "Only 2 left" in warm
    assert cold_reads > 0
    assert warm_reads == 0  # cached now: what follows shows the cache is invalidated, not merely missed

    with django_capture_on_commit_callbacks(execute=True):
        order = place(cart_with((necklace, 2)))
    assert "Sold out" in page(client, SHOP)
    assert "Sold out" in page(client, necklace.product.get_absolute_url())

    with django_capture_on_commit_callbacks(execute=True):
        order_transition(order=order, to_status=OrderStatus.CANCELLED, actor=StaffUserFactory())
    assert "Only 2 left" in page(client, SHOP)


def test_checkout_reads_stock_from_the_database_not_the_cache(client, necklace):
    cart = cart_with((necklace, 1))
    assert "Only 2 left" in page(client, SHOP)  # cached with stock 2
    # A write that tells no one: the cached page may lag, the checkout may not.
    with connection.cursor() as cursor:
        cursor.execute("UPDATE catalog_productvariant SET stock = 0 WHERE id = %s", [necklace.pk])

    with pytest.raises(OutOfStockError):
        place(cart)
    assert ProductVariant.objects.get(pk=necklace.pk).stock == 0
