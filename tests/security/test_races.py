"""Races that lost data or gave a 500 (issue 15, "Stock and orders", last item). Threads with their own
Postgres connections, released together by a Barrier; where an interleaving must be forced, a Barrier
inside the code path (wrapping one of our own functions) holds each thread at the right point.
"""

import threading

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.test import Client
from django.urls import reverse

import accounts.services
import orders.services
from accounts.models import Address
from cart.models import Cart, CartLine
from loopback import wait_until
from orders.models import Order
from tests import threads
from tests.factories import ProductFactory, ProductVariantFactory, UserFactory
from tests.orders.conftest import shopper_ready

pytestmark = pytest.mark.django_db(transaction=True)


def run_together(calls):
    return threads.run_together(calls, join_timeout=60, what="a request")


# --- Two first adds to the bag from two tabs ------------------------------------------------------


def test_two_first_adds_from_two_tabs_keep_both_lines():
    ring = ProductVariantFactory(product=ProductFactory(name="Aurora Ring"), stock=3)
    necklace = ProductVariantFactory(product=ProductFactory(name="Lune Necklace"), stock=3)
    browser = Client()
    assert browser.get(ring.product.get_absolute_url()).status_code == 200  # sets the CSRF cookie, no session
    assert "sessionid" not in browser.cookies
    tabs = [Client(), Client()]
    for tab in tabs:
        tab.cookies = browser.cookies.__class__(browser.cookies)  # both tabs send the same cookies

    responses = run_together(
        [
            lambda: tabs[0].post(reverse("cart:add"), {"variant": ring.pk, "quantity": 1}),
            lambda: tabs[1].post(reverse("cart:add"), {"variant": necklace.pk, "quantity": 1}),
        ]
    )

    assert [r.status_code for r in responses] == [302, 302]
    # Whichever tab's session cookie the browser keeps, its bag holds both pieces.
    for tab in tabs:
        bag = tab.get(reverse("cart:detail")).context["summary"]
        assert sorted(item.product.name for item in bag.items) == ["Aurora Ring", "Lune Necklace"]
    assert Cart.objects.count() == 1
    assert CartLine.objects.count() == 2


# --- An order-number clash ----------------------------------------------------------------------------


def test_an_order_number_clash_is_retried_not_a_500(monkeypatch):
    """Both checkouts draw the same number and both see it free (held at a Barrier after the check)."""
    real_generate = orders.services.order_number_generate
    drawn = threading.Barrier(2)
    first_draw = set()
    numbers = iter(range(20_000_000, 20_000_100))
    lock = threading.Lock()

    def clashing_randbelow(_upper):
        if threading.current_thread().name not in first_draw:
            return 12_345_678 - 10_000_000  # the same first number in both threads
        with lock:
            return next(numbers) - 10_000_000

    def generate_then_wait():
        number = real_generate()
        if threading.current_thread().name not in first_draw:
            first_draw.add(threading.current_thread().name)
            drawn.wait(timeout=30)  # both have checked the number is free before either inserts
        return number

    monkeypatch.setattr(orders.services.secrets, "randbelow", clashing_randbelow)
    monkeypatch.setattr(orders.services, "order_number_generate", generate_then_wait)
    shoppers = [
        shopper_ready(ProductVariantFactory(product=ProductFactory(name=name), stock=2))
        for name in ("Aurora Ring", "Lune Necklace")
    ]

    # Two addresses: one address's checkouts queue on the hold cap's lock (issue 20) and would never meet.
    responses = run_together(
        [
            lambda s=s, d=d, n=n: s.post(reverse("orders:checkout"), d, REMOTE_ADDR=f"203.0.113.{n + 1}")
            for n, (s, d) in enumerate(shoppers)
        ]
    )

    assert [getattr(r, "status_code", r) for r in responses] == [302, 302]
    numbers_used = sorted(Order.objects.values_list("number", flat=True))
    assert len(numbers_used) == 2
    assert "MA-12345678" in numbers_used
    assert len(set(numbers_used)) == 2


# --- Deleting the default address while another tab makes a second one the default ---------------


def test_deleting_the_default_while_another_tab_sets_a_default_neither_deadlocks_nor_500s(monkeypatch):
    """Forced interleaving: tab 1 (make default) takes the user lock first; tab 0 (delete) gets there second."""
    user = UserFactory(username="ada")
    home = Address.objects.create(
        user=user, full_name="Ada", address_line1="1 Home St", city="London", postcode="N1 1AA", is_default=True
    )
    studio = Address.objects.create(
        user=user, full_name="Ada", address_line1="2 Studio Rd", city="London", postcode="E1 6AN"
    )
    real_lock_user = accounts.services._lock_user
    met = threading.Barrier(2)
    seen = set()

    def lock_user_in_order(user_id):
        name = threading.current_thread().name
        first = name not in seen
        seen.add(name)
        if not first:
            return real_lock_user(user_id)
        if name == "tab-1":
            real_lock_user(user_id)
            met.wait(timeout=30)
            return None
        met.wait(timeout=30)
        return real_lock_user(user_id)

    monkeypatch.setattr(accounts.services, "_lock_user", lock_user_in_order)
    tabs = [Client(), Client()]
    for tab in tabs:
        tab.force_login(user)

    responses = run_together(
        [
            lambda: tabs[0].post(reverse("accounts:address-delete", args=[home.pk])),
            lambda: tabs[1].post(reverse("accounts:address-make-default", args=[studio.pk])),
        ]
    )

    assert [getattr(r, "status_code", r) for r in responses] == [302, 302]
    assert list(Address.objects.filter(user=user).values_list("pk", "is_default")) == [(studio.pk, True)]


def test_making_a_just_deleted_address_the_default_is_a_message_not_a_500():
    """Through the view: the other tab's delete lands after this tab's lookup, while it waits for the owner's lock."""
    user = UserFactory(username="grace")
    home = Address.objects.create(
        user=user, full_name="Grace", address_line1="1 Home St", city="London", postcode="N1 1AA", is_default=True
    )
    studio = Address.objects.create(
        user=user, full_name="Grace", address_line1="2 Studio Rd", city="London", postcode="E1 6AN"
    )
    tab = Client()
    tab.force_login(user)
    answer: list = []

    def make_default() -> None:
        try:
            answer.append(tab.post(reverse("accounts:address-make-default", args=[studio.pk]), follow=True))
        except BaseException as error:  # asserted below
            answer.append(error)
        finally:
            connection.close()

    with transaction.atomic():  # the other tab's delete: it holds the owner's row lock first
        get_user_model().objects.select_for_update().get(pk=user.pk)
        thread = threading.Thread(target=make_default)
        thread.start()
        wait_until(lambda: _lock_waiters() >= 1, timeout=30, what="the make-default request waiting on the lock")
        Address.objects.filter(pk=studio.pk).delete()
    thread.join(timeout=60)
    assert not thread.is_alive()

    (response,) = answer
    assert response.status_code == 200, response
    assert response.redirect_chain == [(reverse("accounts:address-list"), 302)]
    assert "That address has just been removed." in response.content.decode()
    assert list(Address.objects.filter(user=user).values_list("pk", "is_default")) == [(home.pk, True)]


def _lock_waiters() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # inside a transaction the view is a snapshot
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


def test_saving_an_address_form_loaded_before_another_tab_moved_the_default_is_not_a_500():
    user = UserFactory(username="hedy")
    home = Address.objects.create(
        user=user, full_name="Hedy", address_line1="1 Home St", city="London", postcode="N1 1AA", is_default=True
    )
    studio = Address.objects.create(
        user=user, full_name="Hedy", address_line1="2 Studio Rd", city="London", postcode="E1 6AN"
    )
    client = Client()
    client.force_login(user)
    stale = Address.objects.get(pk=home.pk)  # the edit form was loaded with home as the default
    accounts.services.address_set_default(address=studio)  # the second tab

    accounts.services.address_update(address=stale, data={"label": "Home", "city": "Leeds"})

    assert list(Address.objects.filter(user=user).values_list("city", "is_default").order_by("pk")) == [
        ("Leeds", False),
        ("London", True),
    ]
