"""Issue #15, personal data: guest order links out of every log, short-lived and revocable; no-store on
every page with personal data; saved addresses under the checkout's text rules; money settings checked
at start-up and the placeholder bank account refused in production."""

import os
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from accounts.models import Address
from mailqueue.models import Mail
from orders.guest_links import order_guest_token
from orders.models import Order
from tests.deploy.conftest import database_url, prod_env, run_manage, strong_secret_key
from tests.factories import ProductFactory, ProductVariantFactory, StaffUserFactory, UserFactory
from tests.orders.conftest import cart_with, place

pytestmark = pytest.mark.django_db


@pytest.fixture
def order(django_capture_on_commit_callbacks):
    ring = ProductVariantFactory(product=ProductFactory(name="Aurora Ring"), stock=3)
    with django_capture_on_commit_callbacks(execute=True):
        return place(cart_with((ring, 1)))


def _emailed_link(order) -> str:
    (message,) = Mail.objects.filter(kind="order_confirmation", reference=order.number)
    return re.search(r"https?://\S+/orders/view/\S+", message.text_body).group(0)


# --- Guest order links ----------------------------------------------------------------------------


def test_guest_link_token_stays_out_of_every_log_and_the_address_bar(client, order, log_text):
    """The e-mailed link carries its token in the query string (no access log writes it) and is exchanged
    at once for a session grant and a redirect to a token-free URL."""
    link = urlsplit(_emailed_link(order))
    token = parse_qs(link.query)["t"][0]
    assert token not in link.path
    response = client.get(f"{link.path}?{link.query}")
    assert response.status_code == 302
    assert response["Location"] == reverse("orders:guest-order", args=[order.number])
    assert token not in response["Location"]
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert order.number in page.content.decode()
    logged = log_text()
    assert "/orders/view/" in logged  # the requests were logged...
    assert token not in logged  # ...without the token
    assert token.split(":")[0] not in logged


def test_links_sent_before_carry_the_token_in_the_path_and_logs_redact_it(client, order, log_text):
    token = order_guest_token(order=order)
    response = client.get(reverse("orders:guest-link-legacy", args=[token]))
    assert response["Location"] == reverse("orders:guest-order", args=[order.number])
    logged = log_text()
    assert "/orders/view/[REDACTED]" in logged
    assert token not in logged
    assert token.split(":")[0] not in logged


def test_the_token_free_page_opens_only_for_the_session_holding_the_grant(client, order):
    client.get(reverse("orders:guest-link") + "?t=" + order_guest_token(order=order))
    url = reverse("orders:guest-order", args=[order.number])
    assert client.get(url).status_code == 200
    assert Client().get(url).status_code == 404  # another browser, no grant


@pytest.mark.parametrize("token", ["", "garbage", "x" * 500, "\u202e"])
def test_bad_guest_links_are_404(client, order, token):
    assert client.get(reverse("orders:guest-link"), {"t": token}).status_code == 404


def test_guest_link_life_is_a_setting_and_shorter_than_before(client, order, settings):
    from django.conf import settings as live

    assert live.SHOP_ORDER_LINK_MAX_AGE == 60 * 60 * 24 * 30  # was 180 days
    token = order_guest_token(order=order)
    settings.SHOP_ORDER_LINK_MAX_AGE = -1  # expired
    assert client.get(reverse("orders:guest-link"), {"t": token}).status_code == 404


def _revoke_as(user, order):
    staff = Client()
    staff.force_login(user)
    return staff.post(
        reverse("admin:orders_order_changelist"),
        {"action": "revoke_guest_links", "_selected_action": [order.pk]},
    )


def test_staff_revoke_an_orders_links_and_the_sessions_opened_with_them(client, order, caplog):
    token = order_guest_token(order=order)
    client.get(reverse("orders:guest-link"), {"t": token})
    granted = reverse("orders:guest-order", args=[order.number])
    assert client.get(granted).status_code == 200

    response = _revoke_as(StaffUserFactory(is_superuser=True), order)

    assert response.status_code == 302
    assert client.get(granted).status_code == 404  # the open session lost it
    assert Client().get(reverse("orders:guest-link"), {"t": token}).status_code == 404  # the link is dead
    fresh = order_guest_token(order=Order.objects.get(pk=order.pk))
    assert Client().get(reverse("orders:guest-link"), {"t": fresh}).status_code == 302  # a new link works
    assert any(getattr(r, "event", "") == "order_guest_links_revoked" for r in caplog.records)


def test_view_only_staff_cannot_revoke_links(client, order):
    viewer = StaffUserFactory(is_superuser=False)
    viewer.user_permissions.add(Permission.objects.get(codename="view_order"))
    before = order.guest_link_version
    _revoke_as(viewer, order)
    assert Order.objects.get(pk=order.pk).guest_link_version == before


# --- Cache-Control: no-store ----------------------------------------------------------------------

NO_STORE_NAMESPACES = {"cart", "orders", "accounts", "admin", "payments"}
SAMPLE_VALUES = {"int": "1", "order_number": "MA-10000000", "str": "x", "slug": "x", "path": "x", "uuid": None}


def _walk(patterns, prefix="", namespaces=()):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            spaces = (*namespaces, entry.namespace) if entry.namespace else namespaces
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern), spaces)
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), namespaces, entry.name


def _personal_data_urls() -> list[str]:
    urls = []
    for route, namespaces, name in _walk(get_resolver().url_patterns):
        if not (NO_STORE_NAMESPACES.intersection(namespaces) or name in {"admin-login", "admin-logout"}):
            continue
        if route.startswith("^") or "(?P" in route:  # the admin's regex routes: give them plain values
            route = re.sub(r"\(\?P<\w+>[^)]*\)", "1", route).strip("^$").replace("\\", "")
        path = re.sub(r"<(?:(\w+):)?\w+>", lambda m: SAMPLE_VALUES.get(m[1] or "str") or "1", route)
        urls.append("/" + path.lstrip("/"))
    return urls


def test_every_page_with_personal_data_sends_no_store(client, order):
    """Walks every URL of the bag, checkout, payment, account, orders and admin namespaces (signed in as
    a superuser, so the admin's own pages answer too), whatever the status."""
    urls = _personal_data_urls()
    assert len(urls) > 40  # the admin alone has dozens: the walk found them
    for path in ("/cart/", "/checkout/", "/account/", "/account/addresses/", "/orders/", "/admin/"):
        assert path in urls
    client.force_login(StaffUserFactory(is_superuser=True))
    missing = []
    for url in urls:
        response = client.get(url)
        if "no-store" not in response.get("Cache-Control", ""):
            missing.append((url, response.status_code))
    assert missing == []


def test_a_guests_bag_checkout_and_order_pages_send_no_store(client, order):
    client.get(reverse("orders:guest-link"), {"t": order_guest_token(order=order)})
    for url in (reverse("cart:detail"), reverse("orders:guest-order", args=[order.number]), "/admin/login/"):
        assert "no-store" in client.get(url)["Cache-Control"], url


def test_catalogue_pages_stay_cacheable(client):
    assert "no-store" not in client.get(reverse("catalog:home")).get("Cache-Control", "")


# --- Saved addresses follow the checkout's text rules ----------------------------------------------

ADDRESS = {
    "label": "Home",
    "full_name": "Ada Lovelace",
    "phone": "",
    "address_line1": "12 St James's Square",
    "address_line2": "",
    "city": "London",
    "postcode": "SW1Y 4JH",
    "country": "GB",
}


@pytest.mark.parametrize(
    "bad",
    [
        {"full_name": "Ada\u202eecalevoL"},
        {"address_line1": "1 Rue\u200bx"},
        {"city": "London 💍"},
        {"postcode": "!!!"},
        {"phone": "call me maybe"},
        {"label": "Home\x00"},
    ],
    ids=repr,
)
def test_saved_addresses_refuse_what_checkout_refuses(client, bad):
    """Before: a saved address could hold characters the checkout then rejected."""
    client.force_login(UserFactory())
    response = client.post(reverse("accounts:address-create"), {**ADDRESS, **bad})
    assert response.status_code == 200
    assert set(response.context["form"].errors) == set(bad)
    assert not Address.objects.exists()


def test_saved_addresses_are_normalised_like_checkout(client):
    user = UserFactory()
    client.force_login(user)
    client.post(reverse("accounts:address-create"), {**ADDRESS, "full_name": "  Le\u0301a  "})
    assert Address.objects.get(user=user).full_name == "Léa"


# --- Money settings and bank details at start-up ---------------------------------------------------


@pytest.mark.parametrize("value", ["-5", "abc", "NaN", "Infinity", "£25"])
def test_money_settings_are_checked_at_start(value):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update(DJANGO_SETTINGS_MODULE="jewelry_site.settings.dev", DJANGO_SHOP_ENGRAVING_FEE=value)
    result = run_manage("check", env=env)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"start-up stopped: DJANGO_SHOP_ENGRAVING_FEE={value!r} is not an amount (write e.g. 25.00, no symbol)."
    )


def test_production_refuses_the_placeholder_bank_account():
    from django.conf import settings

    env = prod_env(
        database_url=database_url("jewelry"),
        DJANGO_SECRET_KEY=strong_secret_key(),
        DJANGO_ALLOWED_HOSTS="shop.example.com",
        DJANGO_SHOP_BANK_TRANSFER_DETAILS=settings.SHOP_BANK_TRANSFER_DETAILS_PLACEHOLDER,
    )
    result = run_manage("check", env=env)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "start-up stopped: set DJANGO_SHOP_BANK_TRANSFER_DETAILS (or its key in operator-config): "
        "production refuses the placeholder bank account."
    ]
    env.pop("DJANGO_SHOP_BANK_TRANSFER_DETAILS")  # unset means the placeholder default: refused too
    assert run_manage("check", env=env).returncode == 1
