"""The hold cap is atomic (issue 20): checkouts released together from one address never hold more than
the cap, on real Postgres, each thread with its own connection (tests/threads.run_together)."""

from collections import Counter
from decimal import Decimal

import pytest
from django.urls import reverse

from orders.models import Order, OrderStatus
from orders.services import HoldLimitError
from tests import threads
from tests.factories import ProductVariantFactory
from tests.orders.conftest import cart_with, place, shopper_ready

pytestmark = pytest.mark.django_db(transaction=True)


def held(client_key: str) -> tuple[int, Decimal]:
    orders = Order.objects.filter(status=OrderStatus.AWAITING_PAYMENT, client_key=client_key)
    return sum(o.pieces for o in orders), sum((o.goods_total for o in orders), Decimal("0.00"))


def outcomes(results) -> Counter:
    return Counter(type(r).__name__ for r in results)


def test_two_checkouts_at_once_from_one_address_do_not_beat_a_cap_of_one_piece(settings):
    """Before issue 20 the cap was read before the placement transaction: both checkouts saw nothing held."""
    settings.SHOP_HOLD_MAX_PIECES = 1
    # Different pieces: two checkouts of one piece already queue on its row lock.
    carts = [cart_with((ProductVariantFactory(stock=10), 1)) for _ in range(2)]
    results = threads.run_together(
        [lambda c=c, n=n: place(c, email=f"tab{n}@example.com", client_ip="203.0.113.9") for n, c in enumerate(carts)],
        what="a checkout",
    )
    print(f"\n[2 checkouts, cap 1 piece] {dict(outcomes(results))} held={held('203.0.113.9')}")
    assert outcomes(results) == {"Order": 1, "HoldLimitError": 1}
    assert held("203.0.113.9") == (1, Decimal("250.00"))


@pytest.mark.parametrize("cap", ["pieces", "value"])
def test_ten_checkouts_at_once_from_one_address_hold_exactly_the_cap(settings, cap):
    settings.SHOP_HOLD_MAX_PIECES = 3 if cap == "pieces" else 100
    settings.SHOP_HOLD_MAX_VALUE = Decimal("100000.00") if cap == "pieces" else Decimal("750.00")
    carts = [cart_with((ProductVariantFactory(stock=20, price=Decimal("250.00")), 1)) for _ in range(10)]
    results = threads.run_together(
        [lambda c=c, n=n: place(c, email=f"s{n}@example.com", client_ip="203.0.113.9") for n, c in enumerate(carts)],
        what="a checkout",
    )
    print(f"\n[10 checkouts, cap on {cap}] {dict(outcomes(results))} held={held('203.0.113.9')}")
    assert outcomes(results) == {"Order": 3, "HoldLimitError": 3 + 4}
    assert held("203.0.113.9") == (3, Decimal("750.00"))
    assert all("contact us" in str(r) for r in results if isinstance(r, HoldLimitError))


def test_ten_fresh_sessions_from_one_address_through_the_view_hold_at_most_the_cap(settings):
    settings.SHOP_HOLD_MAX_PIECES = 4
    shoppers = [shopper_ready(ProductVariantFactory(stock=20)) for _ in range(10)]  # all from 127.0.0.1
    responses = threads.run_together(
        [
            lambda c=c, d=d, n=n: c.post(reverse("orders:checkout"), {**d, "email": f"s{n}@example.com"})
            for n, (c, d) in enumerate(shoppers)
        ],
        what="a checkout",
    )
    targets = Counter("bag" if r["Location"] == reverse("cart:detail") else "placed" for r in responses)
    print(f"\n[10 sessions via the view, cap 4 pieces] {dict(targets)} held={held('127.0.0.1')}")
    assert {r.status_code for r in responses} == {302}
    assert targets == {"placed": 4, "bag": 6}
    assert held("127.0.0.1")[0] == 4
