"""Cart pages over HTTP: the add-to-bag contract, bad input, CSRF, methods, merge at sign-in, query counts."""

from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from cart.cart import SESSION_KEY
from cart.context_processors import cart as cart_context
from cart.models import Cart, CartLine
from cart.services import cart_add_line
from tests.factories import ProductFactory, ProductVariantFactory, UserFactory

pytestmark = pytest.mark.django_db


def add(client, variant, quantity=1, **extra):
    data = {"variant": variant.pk if hasattr(variant, "pk") else variant, "quantity": quantity, **extra}
    return client.post(reverse("cart:add"), data)


def flash(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def lines() -> list[tuple[int, str, int]]:
    return sorted(CartLine.objects.values_list("variant_id", "engraving", "quantity"))


def test_add_to_bag_from_the_product_page_goes_back_there(client, ring):
    product_url = ring.product.get_absolute_url()
    response = add(client, ring, 2, next=product_url)
    assert response.status_code == 302
    assert response["Location"] == f"{product_url}?variant={ring.pk}"  # the chosen variant stays chosen
    assert lines() == [(ring.pk, "", 2)]
    assert client.session[SESSION_KEY] == str(Cart.objects.get().token)
    assert any("is in your bag" in m for m in flash(response))


@pytest.mark.parametrize(
    "next_url", ["https://evil.example/phish", "//evil.example/", "javascript:alert(1)", "١٢٣", "cart:detail"]
)
def test_add_ignores_a_next_url_off_this_site(client, ring, next_url):
    response = add(client, ring, 1, next=next_url)
    assert response["Location"] == reverse("cart:detail")


def test_engraving_is_kept_on_the_line(client, ring):
    add(client, ring, 1, engraving="Toujours ♥")
    assert lines() == [(ring.pk, "Toujours ♥", 1)]


BAD_ADDS = [
    {"quantity": -1},
    {"quantity": 0},
    {"quantity": 10**12},
    {"quantity": "abc"},
    {"quantity": ""},
    {"quantity": "1.5"},
    {"quantity": 4},  # more than the 3 in stock
    {"variant": "abc"},
    {"variant": 999_999_999},
    {"variant": 2**70},
    {"variant": -5},
    {"variant": ""},
    {"engraving": "x" * 5000},
    {"engraving": "abc\u202edcba"},
    {"engraving": "ab\u200bcd"},
    {"engraving": "💍💍"},
    {"engraving": "nul\x00byte"},
    {"next": "/" + "a" * 5000},
]


@pytest.mark.parametrize("override", BAD_ADDS, ids=[repr(b)[:40] for b in BAD_ADDS])
def test_bad_add_input_gives_a_message_and_changes_nothing(client, ring, override):
    data = {"variant": ring.pk, "quantity": 1, **override}
    response = client.post(reverse("cart:add"), data)
    assert response.status_code in (302, 400)
    assert not CartLine.objects.exists()
    if response.status_code == 302:
        assert flash(response), "the shopper is told what went wrong"
        assert client.get(response["Location"]).status_code in (200, 404)


def test_inactive_variant_cannot_be_added(client, ring):
    ring.is_active = False
    ring.save()
    response = add(client, ring, 1)
    assert "not available" in flash(response)[0]
    assert not CartLine.objects.exists()


def test_engraving_on_a_plain_pendant_is_refused(client, pendant):
    response = add(client, pendant, 1, engraving="Hello")
    assert response.status_code == 400  # the product page again, the refusal by its field
    assert response.context["add_errors"]["engraving"] == ["Lune Pendant cannot be engraved."]
    assert not CartLine.objects.exists()


def test_csrf_is_enforced_on_every_cart_form(ring):
    client = Client(enforce_csrf_checks=True)
    assert add(client, ring, 1).status_code == 403
    assert not CartLine.objects.exists()
    cart = Cart.objects.create()
    line = cart_add_line(cart=cart, variant=ring, quantity=1)
    session = client.session
    session[SESSION_KEY] = str(cart.token)
    session.save()
    assert client.post(reverse("cart:line-update", args=[line.pk]), {"quantity": 2}).status_code == 403
    assert client.post(reverse("cart:line-remove", args=[line.pk])).status_code == 403
    assert lines() == [(ring.pk, "", 1)]


@pytest.mark.parametrize("name", ["cart:add", "cart:line-update", "cart:line-remove"])
def test_get_on_post_only_views_is_405(client, name):
    url = reverse(name) if name == "cart:add" else reverse(name, args=[1])
    assert client.get(url).status_code == 405


def test_cart_page_rejects_post(client):
    assert client.post(reverse("cart:detail")).status_code == 405


def _client_with_line(variant, quantity=1):
    client = Client()
    add(client, variant, quantity)
    return client, CartLine.objects.get(variant=variant)


def test_update_and_remove_a_line(ring):
    client, line = _client_with_line(ring)
    response = client.post(reverse("cart:line-update", args=[line.pk]), {"quantity": 3})
    assert response.status_code == 302
    assert lines() == [(ring.pk, "", 3)]
    client.post(reverse("cart:line-remove", args=[line.pk]))
    assert lines() == []


@pytest.mark.parametrize("quantity", [-1, 10**12, "abc", "", 4, "\u202e2"])
def test_bad_update_gives_a_message_and_changes_nothing(ring, quantity):
    client, line = _client_with_line(ring, 2)
    response = client.post(reverse("cart:line-update", args=[line.pk]), {"quantity": quantity})
    assert response.status_code == 302
    messages = flash(response)
    assert messages
    assert not any("Ensure this value" in m for m in messages)  # never Django's raw validator text
    assert lines() == [(ring.pk, "", 2)]


def test_quantity_zero_in_the_bag_removes_the_line_and_says_so(ring):
    """Trap (issue #16): 0 used to answer Django's raw "Ensure this value is greater than or equal to 1."."""
    client, line = _client_with_line(ring, 2)
    response = client.post(reverse("cart:line-update", args=[line.pk]), {"quantity": "0"})
    assert response.status_code == 302
    assert flash(response)[-1] == "Aurora Ring has been removed from your bag."
    assert lines() == []
    page = Client().get(reverse("cart:detail"))  # a fresh shopper's bag page explains 0 too
    assert page.status_code == 200


def test_the_bag_explains_that_zero_removes(ring):
    client, _ = _client_with_line(ring, 1)
    body = client.get(reverse("cart:detail")).content.decode()
    assert 'min="0"' in body
    assert "0 removes it from your bag." in body


@pytest.mark.parametrize(
    ("price", "engraved", "expected"),
    [
        ("200.00", False, "Add £50 more for free standard delivery."),
        # Engraving counts: 230 + 25 = 255 reaches the 250 threshold, so the bag and checkout agree it is free.
        ("230.00", True, "Your order qualifies for free standard delivery."),
        ("250.00", False, "Your order qualifies for free standard delivery."),
    ],
)
def test_the_bag_shows_how_far_it_is_from_free_delivery_and_checkout_agrees(ring, settings, price, engraved, expected):
    """Trap (issue #16): the bag promised free delivery from £250 while checkout ignored engraving fees."""
    settings.SHOP_FREE_SHIPPING_THRESHOLD = Decimal("250.00")
    settings.SHOP_ENGRAVING_FEE = Decimal("25.00")
    ring.price = Decimal(price)
    ring.save()
    client = Client()
    add(client, ring, 1, **({"engraving": "Ada"} if engraved else {}))
    body = client.get(reverse("cart:detail")).content.decode()
    assert expected in body
    checkout = client.get(reverse("orders:checkout"))
    free = expected.startswith("Your order qualifies")
    assert (checkout.context["shipping"] == 0) is free


def test_another_shoppers_line_is_404_and_untouched(ring):
    _owner, line = _client_with_line(ring, 2)
    stranger = Client()
    add(stranger, ProductVariantFactory(stock=5), 1)  # the stranger has a cart of their own
    assert stranger.post(reverse("cart:line-update", args=[line.pk]), {"quantity": 1}).status_code == 404
    assert stranger.post(reverse("cart:line-remove", args=[line.pk])).status_code == 404
    assert Client().post(reverse("cart:line-remove", args=[line.pk])).status_code == 404  # no cart at all
    assert CartLine.objects.get(pk=line.pk).quantity == 2


def test_unknown_line_id_is_404(client, ring):
    add(client, ring, 1)
    assert client.post(reverse("cart:line-update", args=[987654]), {"quantity": 1}).status_code == 404


def test_cart_page_shows_lines_and_totals(client, ring):
    add(client, ring, 2, engraving="A & B")
    response = client.get(reverse("cart:detail"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Aurora Ring" in body
    assert "A &amp; B" in body
    assert response.context["summary"].total == 2 * ring.price + 2 * 25


def test_cart_page_corrects_and_explains_a_line_that_became_short(client, ring):
    add(client, ring, 3)
    type(ring).objects.filter(pk=ring.pk).update(stock=1)
    response = client.get(reverse("cart:detail"))
    assert "Only 1 of Aurora Ring" in response.content.decode() or any("Only 1" in m for m in flash(response))
    assert lines() == [(ring.pk, "", 1)]


def test_cart_page_removes_a_withdrawn_piece(client, ring):
    add(client, ring, 1)
    type(ring).objects.filter(pk=ring.pk).update(is_active=False)
    response = client.get(reverse("cart:detail"))
    assert any("no longer available" in m for m in flash(response))
    assert lines() == []


def test_empty_cart_page(client):
    response = client.get(reverse("cart:detail"))
    assert response.status_code == 200
    assert "Your bag is empty" in response.content.decode()


def test_sign_in_merges_the_anonymous_cart_into_the_users_cart(client, ring, pendant):
    user = UserFactory()
    cart_add_line(cart=Cart.objects.create(user=user), variant=ring, quantity=1)
    add(client, ring, 1)
    add(client, pendant, 2)
    client.force_login(user)
    assert sorted(Cart.objects.get(user=user).lines.values_list("variant_id", "quantity")) == sorted(
        [(ring.pk, 2), (pendant.pk, 2)]
    )
    assert Cart.objects.count() == 1
    assert SESSION_KEY not in client.session
    assert client.get(reverse("cart:detail")).context["summary"].count == 4


def test_sign_in_without_a_user_cart_adopts_the_anonymous_cart(client, ring):
    user = UserFactory()
    add(client, ring, 2)
    client.force_login(user)
    assert list(Cart.objects.get(user=user).lines.values_list("variant_id", "quantity")) == [(ring.pk, 2)]


def test_sign_out_leaves_the_users_cart_and_gives_an_empty_bag(client, ring):
    user = UserFactory()
    client.force_login(user)
    add(client, ring, 1)
    client.logout()
    assert client.get(reverse("cart:detail")).context["summary"].count == 0
    assert Cart.objects.get(user=user).lines.count() == 1


def test_cart_count_costs_no_query_without_a_cart(rf, django_assert_num_queries):
    from django.contrib.auth.models import AnonymousUser
    from django.contrib.sessions.backends.db import SessionStore

    request = rf.get("/")
    request.user = AnonymousUser()
    request.session = SessionStore()
    with django_assert_num_queries(0):
        assert int(cart_context(request)["cart_count"]) == 0


def test_cart_count_is_one_query_with_a_cart(client, ring, django_assert_num_queries):
    add(client, ring, 2)
    add(client, ProductVariantFactory(stock=5), 3)
    request = client.get(reverse("cart:detail")).wsgi_request
    with django_assert_num_queries(1):
        count = cart_context(request)["cart_count"]
        assert int(count) == 5
        assert f"{count}" == "5"


def test_cart_count_for_a_signed_in_user(client, ring, django_assert_num_queries):
    user = UserFactory()
    client.force_login(user)
    add(client, ring, 2)
    request = client.get(reverse("cart:detail")).wsgi_request
    with django_assert_num_queries(1):
        assert int(cart_context(request)["cart_count"]) == 2


def _cart_page_queries(client) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(reverse("cart:detail"))
    assert response.status_code == 200
    return len(captured)


def test_cart_page_query_count_does_not_grow_with_lines(client):
    add(client, ProductVariantFactory(stock=5), 1)
    one_line = _cart_page_queries(client)
    for _ in range(19):
        add(client, ProductVariantFactory(product=ProductFactory(), stock=5), 1)
    twenty_lines = _cart_page_queries(client)
    assert twenty_lines == one_line
    # session, user-less cart lookup, lines with variant and product joined, the header count,
    # plus whatever the shared base template needs: a small constant.
    assert one_line <= 8


def test_cart_page_query_count_signed_in(client, django_assert_max_num_queries):
    client.force_login(UserFactory())
    for _ in range(10):
        add(client, ProductVariantFactory(product=ProductFactory(), stock=5), 1)
    with django_assert_max_num_queries(9):
        response = client.get(reverse("cart:detail"))
    assert response.context["summary"].count == 10
