"""Five checkouts at once on SQLite (`make run`'s database): each thread its own connection, all
released by one Barrier, every one through the whole view. None may fail with "database is locked"."""

import threading

import pytest
from django.db import close_old_connections, connection
from django.test import Client
from django.urls import reverse

from catalog.models import ProductVariant
from orders.models import Order
from tests.factories import ProductFactory, ProductVariantFactory

pytestmark = pytest.mark.django_db(transaction=True)

SHOPPERS = 5
ADDRESS = {
    "email": "ada@example.com",
    "full_name": "Ada Lovelace",
    "address_line1": "12 St James's Square",
    "city": "London",
    "postcode": "SW1Y 4JH",
    "country": "GB",
    "shipping_method": "standard",
    "payment_method": "bank_transfer",
}


def ready_shopper(variant) -> tuple[Client, dict]:
    """A shopper with the variant in the bag and a filled checkout form, not yet submitted."""
    client = Client()
    client.post(reverse("cart:add"), {"variant": variant.pk, "quantity": 1})
    form = client.get(reverse("orders:checkout")).context["form"]
    data = {
        **ADDRESS,
        "checkout_token": form["checkout_token"].value(),
        "expected_goods_total": form["expected_goods_total"].value(),
    }
    return client, data


def submit_together(shoppers) -> list:
    """POST every checkout from its own thread, all released at once; responses or exceptions."""
    barrier = threading.Barrier(len(shoppers))
    results: list = [None] * len(shoppers)

    def worker(index: int, client: Client, data: dict) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = client.post(reverse("orders:checkout"), data)
        except BaseException as error:  # collected and asserted below
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i, *shopper)) for i, shopper in enumerate(shoppers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a checkout hung"
    close_old_connections()
    return results


@pytest.mark.parametrize(("stock", "winners"), [(SHOPPERS, SHOPPERS), (3, 3)], ids=["enough-stock", "three-left"])
def test_five_checkouts_at_once_on_sqlite(stock, winners):
    variant = ProductVariantFactory(product=ProductFactory(name="Opal Ring"), stock=stock)
    shoppers = [ready_shopper(variant) for _ in range(SHOPPERS)]

    results = submit_together(shoppers)

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
