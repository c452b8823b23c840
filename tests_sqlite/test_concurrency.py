"""Five checkouts at once on SQLite (`make run`'s database): each thread its own connection, all
released by one Barrier, every one through the whole view. None may fail with "database is locked"."""

import pytest
from django.db import close_old_connections
from django.urls import reverse

from catalog.models import ProductVariant
from orders.models import Order
from tests.factories import ProductFactory, ProductVariantFactory
from tests.orders.conftest import shopper_ready
from tests.threads import run_together

pytestmark = pytest.mark.django_db(transaction=True)

SHOPPERS = 5


@pytest.mark.parametrize(("stock", "winners"), [(SHOPPERS, SHOPPERS), (3, 3)], ids=["enough-stock", "three-left"])
def test_five_checkouts_at_once_on_sqlite(stock, winners):
    variant = ProductVariantFactory(product=ProductFactory(name="Opal Ring"), stock=stock)
    shoppers = [shopper_ready(variant) for _ in range(SHOPPERS)]

    results = run_together(
        [lambda c=client, d=data: c.post(reverse("orders:checkout"), d) for client, data in shoppers], what="a checkout"
    )
    close_old_connections()

    errors = [repr(r) for r in results if isinstance(r, BaseException)]
    assert errors == []  # "database is locked" would show here
    statuses = sorted(r.status_code for r in results)
    to_confirmation = [r for r in results if "/checkout/confirmation/" in r["Location"]]
    back_to_bag = [r for r in results if r["Location"] == reverse("cart:detail")]
    print(
        f"\n[sqlite, {SHOPPERS} checkouts, stock {stock}] orders={Order.objects.count()} "
        f"confirmed={len(to_confirmation)} refused={len(back_to_bag)} statuses={statuses}"
    )
    assert statuses == [302] * SHOPPERS
    assert len(to_confirmation) == winners
    assert len(back_to_bag) == SHOPPERS - winners
    assert Order.objects.count() == winners
    assert ProductVariant.objects.get(pk=variant.pk).stock == stock - winners


def test_five_checkouts_at_once_from_one_address_hold_at_most_the_cap_on_sqlite(settings):
    """The hold cap (orders/holds.py) takes no advisory lock on SQLite: IMMEDIATE transactions queue the
    writers at BEGIN, so each checkout sums the ones committed before it (issue 20)."""
    settings.SHOP_HOLD_MAX_PIECES = 2
    shoppers = [shopper_ready(ProductVariantFactory(stock=5)) for _ in range(SHOPPERS)]  # different pieces

    results = run_together(
        [
            lambda c=client, d=data, n=n: c.post(reverse("orders:checkout"), {**d, "email": f"s{n}@example.com"})
            for n, (client, data) in enumerate(shoppers)
        ],
        what="a checkout",
    )
    close_old_connections()

    assert [repr(r) for r in results if isinstance(r, BaseException)] == []
    placed = [r for r in results if "/checkout/confirmation/" in r["Location"]]
    print(f"\n[sqlite, {SHOPPERS} checkouts from one address, cap 2 pieces] placed={len(placed)}")
    assert len(placed) == 2
    assert Order.objects.count() == 2
