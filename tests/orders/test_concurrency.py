"""Concurrent checkouts on real Postgres: threads with their own connections, started together by a Barrier."""

import threading
import uuid
from collections import Counter

import pytest
from django.contrib.messages import get_messages
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from catalog.models import ProductVariant
from orders.models import Order, OrderLine
from orders.services import OutOfStockError, variants_locked
from tests import threads
from tests.factories import ProductFactory, ProductVariantFactory
from tests.orders.conftest import cart_with, place, shopper_ready

pytestmark = pytest.mark.django_db(transaction=True)


def run_together(calls):
    return threads.run_together(calls, what="a checkout")


def test_twenty_shoppers_buy_the_last_unit_through_the_in_process_client_one_wins():
    """The whole view (form, messages, redirect) through Django's in-process test client, one thread
    and one database connection per shopper; gunicorn itself is exercised by bench's order-place row."""
    last = ProductVariantFactory(product=ProductFactory(name="Unique Opal Ring"), stock=1)
    shoppers = [shopper_ready(last) for _ in range(20)]

    responses = run_together(
        [lambda c=client, d=data: c.post(reverse("orders:checkout"), d) for client, data in shoppers]
    )

    errors = [r for r in responses if isinstance(r, BaseException)]
    assert errors == []
    statuses = Counter(r.status_code for r in responses)
    locations = Counter(r["Location"].split("/")[1] + "/" + r["Location"].split("/")[2] for r in responses)
    out_of_stock = [r for r in responses if r["Location"] == reverse("cart:detail")]
    short_messages = [m for r in out_of_stock for m in map(str, get_messages(r.wsgi_request)) if "0 left" in m]
    orders = Order.objects.count()
    final_stock = ProductVariant.objects.get(pk=last.pk).stock
    print(
        f"\n[20 shoppers, 1 unit] orders={orders} stock={final_stock} statuses={dict(statuses)} "
        f"out_of_stock={len(out_of_stock)} errors={len(errors)} targets={dict(locations)}"
    )
    assert statuses == {302: 20}
    assert orders == 1
    assert final_stock == 0
    assert len(out_of_stock) == 19
    assert len(short_messages) == 19
    assert OrderLine.objects.get().quantity == 1


def test_twenty_shoppers_five_units_service_level():
    variant = ProductVariantFactory(stock=5)
    carts = [cart_with((variant, 1)) for _ in range(20)]
    results = run_together([lambda c=cart: place(c) for cart in carts])
    placed = [r for r in results if isinstance(r, Order)]
    short = [r for r in results if isinstance(r, OutOfStockError)]
    other = [r for r in results if not isinstance(r, (Order, OutOfStockError))]
    print(
        f"\n[20 shoppers, 5 units] orders={len(placed)} short={len(short)} other_errors={len(other)} "
        f"stock={ProductVariant.objects.get(pk=variant.pk).stock}"
    )
    assert other == []
    assert len(placed) == 5
    assert len(short) == 15
    assert ProductVariant.objects.get(pk=variant.pk).stock == 0
    assert Order.objects.count() == 5


@pytest.mark.parametrize("round_", range(5))
def test_two_carts_with_the_same_variants_in_opposite_order_do_not_deadlock(round_):
    first = ProductVariantFactory(stock=10)
    second = ProductVariantFactory(stock=10)
    forward = cart_with((first, 2), (second, 2))
    backward = cart_with((second, 2), (first, 2))  # lines created in the opposite order
    results = run_together([lambda: place(forward), lambda: place(backward)])
    errors = [r for r in results if not isinstance(r, Order)]
    print(
        f"\n[opposite order, round {round_}] orders={len(results) - len(errors)} errors={errors} "
        f"stock={ProductVariant.objects.get(pk=first.pk).stock},{ProductVariant.objects.get(pk=second.pk).stock}"
    )
    assert errors == []
    assert ProductVariant.objects.get(pk=first.pk).stock == 6
    assert ProductVariant.objects.get(pk=second.pk).stock == 6


def test_variant_locks_are_taken_in_primary_key_order():
    """The order the rows are locked in, read from Postgres's plan: LockRows above a Sort on the key.

    The race above cannot fail by itself on demand (one statement locks in its scan order, and both
    scans usually agree); this is what fails when ``.order_by("pk")`` is taken out of variants_locked.
    """
    first, second = ProductVariantFactory(stock=1), ProductVariantFactory(stock=1)
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        variants_locked([second.pk, first.pk])
    (locking,) = [q["sql"] for q in queries.captured_queries if "FOR UPDATE" in q["sql"]]
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (COSTS OFF) {locking}")
        plan = [row[0].strip().removeprefix("->").strip() for row in cursor.fetchall()]
    nodes = [line.split(" ")[0] for line in plan if not line.startswith(("Sort Key", "Filter", "Index Cond"))]
    assert nodes[:2] == ["LockRows", "Sort"], plan
    assert "Sort Key: catalog_productvariant.id" in plan, plan


def test_the_deadlock_race_catches_locks_taken_in_cart_order():
    """Negative control for the race above: locking line by line in cart order does deadlock there."""
    first, second = ProductVariantFactory(stock=10), ProductVariantFactory(stock=10)
    both_hold_one = threading.Barrier(2)

    def lock_in_cart_order(variant_ids: list[int]) -> str:
        with transaction.atomic():
            for index, pk in enumerate(variant_ids):
                ProductVariant.objects.select_for_update().filter(pk=pk).values_list("pk").first()
                if index == 0:
                    both_hold_one.wait(timeout=30)
        return "locked"

    results = run_together(
        [lambda: lock_in_cart_order([first.pk, second.pk]), lambda: lock_in_cart_order([second.pk, first.pk])]
    )
    assert sorted(type(r).__name__ for r in results) == ["OperationalError", "str"], results
    assert "deadlock detected" in str(next(r for r in results if not isinstance(r, str)))


def test_the_same_checkout_submitted_ten_times_at_once_gives_one_order():
    variant = ProductVariantFactory(stock=3)
    cart = cart_with((variant, 2))
    token = uuid.uuid4()
    results = run_together([lambda: place(cart, checkout_token=token) for _ in range(10)])
    errors = [r for r in results if not isinstance(r, Order)]
    print(
        f"\n[same checkout x10] orders={Order.objects.count()} distinct_returned="
        f"{len({r.pk for r in results if isinstance(r, Order)})} errors={errors} "
        f"stock={ProductVariant.objects.get(pk=variant.pk).stock}"
    )
    assert errors == []
    assert Order.objects.count() == 1
    assert {r.pk for r in results} == {Order.objects.get().pk}
    assert ProductVariant.objects.get(pk=variant.pk).stock == 1
