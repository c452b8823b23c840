"""Issue #21 through the test client: the one list of token-bearing paths (and its guard), the reset
link's lifetime and bad links, no-store on the wishlist and back-in-stock pages, the HttpOnly CSRF
cookie, and a checkout that must confirm the total the shopper saw. The HTTP walks through gunicorn
are in test_token_logs.py."""

import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.auth.tokens import default_token_generator
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from jewelry_site import logs
from jewelry_site.logs import REDACTED, redact_text
from mailqueue.models import Mail
from orders.forms import GOODS_TOTAL_UNCONFIRMED
from orders.models import Order
from restock.models import RestockSignup
from restock.tokens import restock_unsubscribe_token
from tests.accounts.conftest import oidc_off  # noqa: F401 - a fixture
from tests.factories import ProductFactory, ProductVariantFactory, StaffUserFactory, UserFactory
from tests.orders.conftest import checkout_data

pytestmark = pytest.mark.django_db

REPO = Path(__file__).resolve().parents[2]
TOKEN = "eyJuIjoiTUEtMTIzIn0:1tTokenSecretSignaturePartXYZ123"
# Route parameters that carry a secret (a signed value or an HMAC); ids, slugs and order numbers do not.
TOKEN_PARAMETER = re.compile(r"<(?:\w+:)?(token|signature|sig|secret|key)>")


def _routes(resolver: URLResolver, prefix: str = "") -> list[str]:
    found = []
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            found += _routes(entry, route)
        elif isinstance(entry, URLPattern):
            found.append(route)
    return found


def _uncovered(routes: list[str]) -> list[str]:
    """Routes with a token parameter whose token, filled in, survives the log redaction."""
    missing = []
    for route in routes:
        if not TOKEN_PARAMETER.search(route):
            continue
        path = "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: TOKEN if TOKEN_PARAMETER.match(m[0]) else "MQ", route)
        if TOKEN in redact_text(f"GET {path} 302"):
            missing.append(route)
    return missing


def test_every_url_with_a_token_in_its_path_is_redacted_by_the_one_list():
    """Guard: a new URL with a token in its path fails here until it joins logs.TOKEN_PATHS."""
    routes = _routes(get_resolver())
    with_tokens = [r for r in routes if TOKEN_PARAMETER.search(r)]
    assert len(with_tokens) >= 3  # guest order, password reset, unsubscribe: the walk found them
    assert _uncovered(routes) == []


def test_the_guard_catches_a_made_up_token_route(monkeypatch):
    """Negative control: without its entry in TOKEN_PATHS, the unsubscribe route is reported."""
    monkeypatch.setattr(logs, "TOKEN_PATHS", tuple(p for p in logs.TOKEN_PATHS if "unsubscribe" not in p.pattern))
    assert _uncovered(["back-in-stock/unsubscribe/<str:token>/"]) == ["back-in-stock/unsubscribe/<str:token>/"]
    assert _uncovered(["made-up/<token>/"]) == ["made-up/<token>/"]


@pytest.mark.parametrize(
    ("line", "kept"),
    [
        ("GET /account/password/reset/MQ/cz1abc-0123456789abcdef/ 302", "/account/password/reset/MQ/"),
        ("GET /back-in-stock/unsubscribe/MQ:1tX:sig/ 404", "/back-in-stock/unsubscribe/"),
        ("Not Found: /orders/view/abc:def/", "/orders/view/"),
        ("https://shop.example.com/account/password/reset/link/?u=MQ&t=cz1abc-0123456789abcdef", "/link/?u="),
        ("/back-in-stock/unsubscribe/?t=MQ:1tX:sig", "/back-in-stock/unsubscribe/?t="),
        ("/oidc/callback/?code=abc123&state=xyz789", "/oidc/callback/?code="),
    ],
)
def test_tokens_in_paths_and_queries_are_redacted(line, kept):
    redacted = redact_text(line)
    assert kept in redacted
    assert REDACTED in redacted
    for secret in ("cz1abc-0123456789abcdef", "MQ:1tX:sig", "abc:def", "abc123", "xyz789"):
        assert secret not in redacted


def test_the_token_free_reset_form_is_not_redacted():
    line = "GET /account/password/reset/MQ/set-password/ 200"
    assert redact_text(line) == line


@pytest.mark.usefixtures("oidc_off")
def test_reset_links_live_an_hour_and_an_older_one_is_a_clear_page(client, settings):
    assert settings.PASSWORD_RESET_TIMEOUT == 60 * 60  # Django's default was 3 days
    user = UserFactory()
    link = (
        reverse("accounts:password-reset-link")
        + f"?u={urlsafe_base64_encode(force_bytes(user.pk))}&t={default_token_generator.make_token(user)}"
    )
    settings.PASSWORD_RESET_TIMEOUT = -1  # every token is now older than the lifetime
    page = client.get(link, follow=True)
    assert page.status_code == 200
    assert b"This link has already been used or has expired" in page.content


@pytest.mark.parametrize(
    "query", ["", "?u=MQ", "?t=abc-123", "?u=a/b&t=abc-123", "?u=MQ&t=set-password", "?u=" + "M" * 500 + "&t=a-1"]
)
@pytest.mark.usefixtures("oidc_off")
def test_a_mangled_reset_link_goes_back_to_the_reset_form_never_a_500(client, query):
    response = client.get(reverse("accounts:password-reset-link") + query)
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:password-reset")


def test_the_wishlist_and_back_in_stock_pages_are_not_stored(client):
    """Before issue #21 both were cacheable: a shared computer's browser kept a shopper's wishlist."""
    client.force_login(UserFactory())
    wishlist = client.get(reverse("wishlist:detail"))
    assert wishlist.status_code == 200
    sold_out = ProductVariantFactory(product=ProductFactory(name="Aurora Ring"), stock=0)
    signup = RestockSignup.objects.create(variant=sold_out, email="fan@example.com")
    link = reverse("restock:unsubscribe") + "?t=" + restock_unsubscribe_token(signup=signup)
    exchanged = client.get(link)
    confirm = client.get(reverse("restock:unsubscribe"))
    refused = client.post(reverse("restock:signup"), {"variant": sold_out.pk, "email": "not an address"})
    assert (exchanged.status_code, confirm.status_code, refused.status_code) == (302, 200, 400)
    for response in (wishlist, exchanged, confirm, refused):
        assert "no-store" in response["Cache-Control"], response.request["PATH_INFO"]


@pytest.mark.usefixtures("oidc_off")
def test_the_csrf_cookie_is_http_only_and_nothing_reads_it(client):
    response = client.get(reverse("accounts:password-reset"))
    cookie = response.cookies["csrftoken"]
    assert cookie["httponly"] is True
    # The forms and fetch() calls take the hidden csrfmiddlewaretoken input, never the cookie.
    readers = [
        path.relative_to(REPO)
        for folder in ("static", "templates")
        for path in (REPO / folder).rglob("*")
        if path.suffix in (".js", ".html") and "document.cookie" in path.read_text(errors="ignore")
    ]
    assert readers == []


def test_a_checkout_without_the_total_the_shopper_saw_places_nothing_and_says_why(client):
    """Before issue #21 expected_goods_total was optional: a post without it placed the order at
    whatever the prices were by then."""
    ring = ProductVariantFactory(product=ProductFactory(name="Aurora Ring"), price=Decimal("120.00"), stock=3)
    client.post(reverse("cart:add"), {"variant": ring.pk, "quantity": 1})
    data = checkout_data(client)
    del data["expected_goods_total"]
    response = client.post(reverse("orders:checkout"), data)
    assert response.status_code == 400
    html = response.content.decode()
    assert GOODS_TOTAL_UNCONFIRMED in html
    assert not Order.objects.exists()
    # The page now carries the total shown, so the next submit places the order at that price.
    assert 'name="expected_goods_total" value="120.00"' in html
    data["expected_goods_total"] = "120.00"
    assert client.post(reverse("orders:checkout"), data).status_code == 302
    assert Order.objects.count() == 1


def test_a_forged_total_is_refused_too(client):
    ring = ProductVariantFactory(product=ProductFactory(name="Aurora Ring"), price=Decimal("120.00"), stock=3)
    client.post(reverse("cart:add"), {"variant": ring.pk, "quantity": 1})
    for forged in ("", "abc", "-1", "1e99"):
        response = client.post(reverse("orders:checkout"), checkout_data(client, expected_goods_total=forged))
        assert response.status_code == 400, forged
        assert not Order.objects.exists()


@pytest.mark.usefixtures("oidc_off")
def test_old_style_reset_links_still_work(client):
    user = UserFactory()
    old = reverse(
        "accounts:password-reset-confirm",
        args=[urlsafe_base64_encode(force_bytes(user.pk)), default_token_generator.make_token(user)],
    )
    page = client.get(old, follow=True)
    assert page.status_code == 200
    assert b"Save new password" in page.content
    forged = old.rsplit("/", 2)[0] + "/cz1abc-0123456789abcdef/"
    assert b"already been used or has expired" in Client().get(forged, follow=True).content


@pytest.mark.usefixtures("oidc_off")
def test_staff_reading_the_mail_queue_never_see_a_reset_link(client):
    """Queued reset e-mails are rows staff can open in the admin: their body (a live sign-in link) is
    never shown, so an order handler cannot reset a superuser's password and read the link."""
    boss = UserFactory(email="boss@example.com", is_staff=True, is_superuser=True)
    client.post(reverse("accounts:password-reset"), {"email": boss.email})
    reset = Mail.objects.get(kind="password-reset")
    token = re.search(r"[?&]t=([^&\s]+)", reset.text_body)[1]
    other = Mail.objects.create(
        to="ada@example.com",
        subject="Hi",
        text_body="Order body",
        kind="order_confirmation",
        next_attempt_at=reset.next_attempt_at,
    )
    client.force_login(StaffUserFactory(is_superuser=True))
    page = client.get(reverse("admin:mailqueue_mail_change", args=[reset.pk]))
    assert page.status_code == 200
    assert token not in page.content.decode()
    assert "boss@example.com" in page.content.decode()  # staff still see that it went, and to whom
    assert "Order body" in client.get(reverse("admin:mailqueue_mail_change", args=[other.pk])).content.decode()
