"""Checkout, confirmation, order history and guest links over HTTP: happy path, bad input, access."""

import logging
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from cart.models import CartLine
from catalog.models import ProductVariant
from orders.forms import checkout_token_issue
from orders.guest_links import order_guest_token
from orders.models import Order
from tests.factories import StaffUserFactory, UserFactory
from tests.orders.conftest import ADDRESS, cart_with, checkout_data, place

pytestmark = pytest.mark.django_db

CHECKOUT = reverse("orders:checkout")


def add(client, variant, quantity=1, **extra):
    return client.post(reverse("cart:add"), {"variant": variant.pk, "quantity": quantity, **extra})


def flash(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def stock(variant) -> int:
    return ProductVariant.objects.get(pk=variant.pk).stock


# --- Checkout page -----------------------------------------------------------------------------


def test_checkout_with_an_empty_bag_goes_back_to_the_bag(client):
    response = client.get(CHECKOUT)
    assert response.status_code == 302
    assert response["Location"] == reverse("cart:detail")


def test_checkout_page_shows_server_computed_summary(client, ring):
    add(client, ring, 1, engraving="Léa")
    response = client.get(CHECKOUT)
    assert response.status_code == 200
    assert response.context["summary"].total == Decimal("145.00")
    assert response.context["shipping"] == Decimal("5.00")
    assert response.context["total"] == Decimal("150.00")
    body = response.content.decode()
    assert 'name="checkout_token"' in body
    assert "£150" in body


def test_guest_checkout_places_the_order_and_shows_the_confirmation(client, ring, django_capture_on_commit_callbacks):
    add(client, ring, 2)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(CHECKOUT, checkout_data(client, gift_message="Joyeux anniversaire,\nmon amour ♥"))
    order = Order.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("orders:confirmation", args=[order.number])
    assert order.user is None
    assert order.gift_message == "Joyeux anniversaire,\nmon amour ♥"
    assert order.total == Decimal("245.00")
    assert stock(ring) == 1
    assert not CartLine.objects.exists()
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert order.number in page.content.decode()
    assert "bank transfer" in page.content.decode().lower()
    assert page.context["cart_count"] == 0


def test_double_submit_gives_one_order(client, ring):
    add(client, ring, 1)
    data = checkout_data(client)
    first = client.post(CHECKOUT, data)
    second = client.post(CHECKOUT, data)  # the cart is empty now; the token still finds the order
    assert Order.objects.count() == 1
    assert first["Location"] == second["Location"]
    assert stock(ring) == 2


def test_signed_in_checkout_prefills_email_and_last_address(client, ring):
    user = UserFactory(email="grace@example.com")
    place(cart_with((ring, 1)), user=user, email="old@example.com")
    client.force_login(user)
    add(client, ring, 1)
    form = client.get(CHECKOUT).context["form"]
    assert form["email"].value() == "grace@example.com"
    assert form["address_line1"].value() == ADDRESS.address_line1
    assert form["postcode"].value() == ADDRESS.postcode
    response = client.post(CHECKOUT, checkout_data(client, email="grace@example.com"))
    assert response.status_code == 302
    assert Order.objects.filter(user=user).count() == 2


def test_out_of_stock_at_the_last_moment_corrects_the_bag_and_names_the_line(client, ring, necklace):
    add(client, ring, 1)
    add(client, necklace, 2)
    data = checkout_data(client)
    ProductVariant.objects.filter(pk=necklace.pk).update(stock=1)
    response = client.post(CHECKOUT, data)
    assert response.status_code == 302
    assert response["Location"] == reverse("cart:detail")
    assert any("Lune Necklace" in m and "1 left" in m for m in flash(response))
    assert not Order.objects.exists()
    assert (stock(ring), stock(necklace)) == (3, 1)
    assert sorted(CartLine.objects.values_list("variant_id", "quantity")) == sorted([(ring.pk, 1), (necklace.pk, 1)])


def test_price_change_during_checkout_re_renders_with_everything_typed_and_the_new_total(client, ring):
    """Trap (issue #16): a price change used to redirect to a blank checkout, losing what a guest typed."""
    add(client, ring, 1)
    typed = {
        "email": "guest@example.com",
        "full_name": "Grace Hopper",
        "address_line1": "1 Harbour Street",
        "address_line2": "Flat 2",
        "city": "Bristol",
        "postcode": "BS1 4DJ",
        "phone": "+44 117 496 0000",
        "gift_message": "For you,\nalways",
    }
    data = checkout_data(client, **typed)
    ProductVariant.objects.filter(pk=ring.pk).update(price=Decimal("130.00"))
    response = client.post(CHECKOUT, data)
    assert response.status_code == 409
    assert not Order.objects.exists()
    form = response.context["form"]
    for name, value in typed.items():
        assert form[name].value() == value, name
    assert form["checkout_token"].value() == data["checkout_token"]
    assert form["expected_goods_total"].value() == "130.00"
    assert response.context["total"] == Decimal("135.00")
    body = response.content.decode()
    assert "£130" in body
    assert "£135" in body
    assert "Grace Hopper" in body
    assert "1 Harbour Street" in body
    assert "data-error-summary" in body
    # Submitting the page as shown (the new expected total) places the order at the new price.
    again = client.post(CHECKOUT, {**data, "expected_goods_total": form["expected_goods_total"].value()})
    assert again.status_code == 302
    order = Order.objects.get()
    assert (order.subtotal, order.full_name, order.gift_message) == (
        Decimal("130.00"),
        "Grace Hopper",
        "For you,\nalways",
    )


def test_token_from_another_cart_is_refused(client, ring):
    add(client, ring, 1)
    foreign = checkout_token_issue(cart=cart_with((ring, 1)))
    response = client.post(CHECKOUT, checkout_data(client, checkout_token=foreign))
    assert response.status_code == 400
    assert not Order.objects.exists()
    # the re-rendered form carries a fresh, valid token
    assert response.context["form"].data["checkout_token"] != foreign


BAD_CHECKOUTS = [
    {"email": "not-an-email"},
    {"email": ""},
    {"email": "a" * 300 + "@example.com"},
    {"full_name": ""},
    {"full_name": "x" * 121},
    {"full_name": "Ada\u202eecalevoL"},  # right-to-left override
    {"full_name": "Ada\u200bLovelace"},  # zero-width space
    {"full_name": "Ada 💍"},
    {"full_name": "Ada\x00"},
    {"address_line1": "1 Rue\u2066x"},
    {"city": "L" * 81},
    {"postcode": "!!!"},
    {"postcode": "SW1Y 4JH" * 5},
    {"phone": "call me maybe"},
    {"country": "XX"},
    {"shipping_method": "teleport"},
    {"shipping_method": ""},
    {"payment_method": "bitcoin"},
    {"payment_method": "on_collection"},  # only with collection from the boutique
    {"gift_message": "x" * 301},
    {"gift_message": "hi\x00there"},
    {"gift_message": "🎂🎂"},
    {"checkout_token": "forged"},
    {"checkout_token": ""},
    {"expected_goods_total": "abc"},
    {"expected_goods_total": "-5"},
    {"expected_goods_total": "1" * 40},
]


@pytest.mark.parametrize("override", BAD_CHECKOUTS, ids=[repr(b)[:40] for b in BAD_CHECKOUTS])
def test_bad_checkout_input_re_renders_with_an_error_and_changes_nothing(client, ring, override):
    add(client, ring, 2)
    response = client.post(CHECKOUT, checkout_data(client, **override))
    assert response.status_code == 400
    assert response.context["form"].errors
    assert "form-errors" in response.content.decode()
    assert not Order.objects.exists()
    assert stock(ring) == 3
    assert CartLine.objects.get().quantity == 2


def test_pay_on_collection_with_collection_is_accepted(client, ring):
    add(client, ring, 1)
    response = client.post(CHECKOUT, checkout_data(client, shipping_method="collect", payment_method="on_collection"))
    assert response.status_code == 302
    order = Order.objects.get()
    assert order.shipping_cost == Decimal("0.00")
    assert order.total == Decimal("120.00")


def test_checkout_without_csrf_token_is_403(ring):
    client = Client(enforce_csrf_checks=True)
    add(client, ring, 1)  # refused too: no token
    assert not CartLine.objects.exists()
    csrf_client = Client()
    add(csrf_client, ring, 1)
    data = checkout_data(csrf_client)
    strict = Client(enforce_csrf_checks=True)
    strict.cookies = csrf_client.cookies
    assert strict.post(CHECKOUT, data).status_code == 403
    assert not Order.objects.exists()


def test_checkout_rejects_other_methods(client):
    assert client.put(CHECKOUT).status_code == 405
    assert client.delete(CHECKOUT).status_code == 405


@pytest.mark.parametrize(
    "name", ["orders:confirmation", "orders:order-detail", "orders:order-list", "orders:guest-order"]
)
def test_read_only_order_pages_refuse_post(client, name):
    kwargs = {"order-list": {}}.get(name.split(":")[1], {"number": "MA-1"})
    assert client.post(reverse(name, kwargs=kwargs)).status_code == 405


# --- Access ------------------------------------------------------------------------------------


@pytest.fixture
def owner_order(ring):
    owner = UserFactory()
    return owner, place(cart_with((ring, 1), user=owner), user=owner)


def test_order_history_requires_sign_in(client):
    response = client.get(reverse("orders:order-list"))
    assert response.status_code == 302
    assert reverse("accounts:login") in response["Location"]


def test_order_history_lists_only_own_orders(client, owner_order, ring):
    owner, order = owner_order
    someone_else = place(cart_with((ring, 1)), user=UserFactory())
    client.force_login(owner)
    response = client.get(reverse("orders:order-list"))
    assert [o.pk for o in response.context["orders"]] == [order.pk]
    assert someone_else.number not in response.content.decode()


def test_owner_sees_order_detail(client, owner_order):
    owner, order = owner_order
    client.force_login(owner)
    response = client.get(reverse("orders:order-detail", args=[order.number]))
    assert response.status_code == 200
    assert "Aurora Ring" in response.content.decode()


def test_anonymous_order_detail_redirects_to_sign_in(client, owner_order):
    _, order = owner_order
    response = client.get(reverse("orders:order-detail", args=[order.number]))
    assert response.status_code == 302
    assert reverse("accounts:login") in response["Location"]


@pytest.mark.parametrize("intruder_factory", [UserFactory, StaffUserFactory], ids=["other-user", "staff"])
def test_other_users_and_staff_get_404_and_the_attempt_is_logged(client, owner_order, intruder_factory, caplog):
    _, order = owner_order
    intruder = intruder_factory()
    client.force_login(intruder)
    with caplog.at_level(logging.WARNING, logger="shop.security"):
        response = client.get(reverse("orders:order-detail", args=[order.number]))
        confirmation = client.get(reverse("orders:confirmation", args=[order.number]))
    assert response.status_code == 404
    assert confirmation.status_code == 404
    records = [r for r in caplog.records if r.name == "shop.security"]
    assert records[0].getMessage() == "order_access_denied"
    assert records[0].event == "order_access_denied"
    assert records[0].order_number == order.number
    assert records[0].user_id == intruder.pk


def test_unknown_order_number_is_404(client):
    client.force_login(UserFactory())
    assert client.get(reverse("orders:order-detail", args=["MA-00000000"])).status_code == 404
    assert client.get("/orders/%E2%80%AE%3Cscript%3E/").status_code == 404


@pytest.mark.parametrize("path", ["/checkout/confirmation/a%00b/", "/orders/a%00b/", "/orders/%D9%A1%D9%A2/"])
def test_order_urls_with_junk_numbers_are_404_not_500(client, path):
    client.force_login(UserFactory())
    assert client.get(path).status_code == 404


def test_confirmation_only_for_the_session_that_placed_it(client, ring):
    add(client, ring, 1)
    response = client.post(CHECKOUT, checkout_data(client))
    assert client.get(response["Location"]).status_code == 200
    assert Client().get(response["Location"]).status_code == 404


@pytest.mark.parametrize("who", ["anonymous", "other-user", "staff", "owner"])
def test_guest_link_opens_the_order_for_whoever_holds_it(client, owner_order, who):
    owner, order = owner_order
    if who != "anonymous":
        client.force_login({"other-user": UserFactory, "staff": StaffUserFactory}.get(who, lambda: owner)())
    response = client.get(reverse("orders:guest-link"), {"t": order_guest_token(order=order)}, follow=True)
    assert response.status_code == 200
    assert order.number in response.content.decode()


@pytest.mark.parametrize("token", ["garbage", "x" * 500, "\u202e", "%00"])
def test_bad_guest_links_are_404(client, owner_order, token):
    assert client.get(reverse("orders:guest-link-legacy", args=[token])).status_code == 404


def test_tampered_guest_link_is_404(client, owner_order):
    _, order = owner_order
    token = order_guest_token(order=order)
    tampered = token[:-1] + ("B" if token.endswith("A") else "A")
    assert client.get(reverse("orders:guest-link"), {"t": tampered}).status_code == 404
