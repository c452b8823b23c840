"""Sign-up and password reset are rate limited (django-ratelimit): per client address, and password reset
also per target e-mail address, so a script cannot mail one shopper reset links, nor create accounts, by
the hundred. The limit answers the shop's friendly 429 page (RATELIMIT_VIEW) with Retry-After."""

import pytest
from django.test import Client
from django.urls import reverse

from mailqueue.models import Mail
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
PASSWORD = "a brand-new passphrase 42"


def reset(client: Client, email: str):
    return client.post(reverse("accounts:password-reset"), {"email": email})


def sign_up(client: Client, n: int):
    data = {"email": f"s{n}@example.com", "first_name": "A", "last_name": "B", "password1": PASSWORD}
    return client.post(reverse("accounts:sign-up"), {**data, "password2": PASSWORD})


def test_password_reset_is_limited_per_target_address_from_any_client(oidc_off, settings):
    settings.SHOP_TRUSTED_PROXY_HOPS = 1  # behind nginx: each client below is another address
    settings.SHOP_PASSWORD_RESET_RATE_PER_EMAIL = "3/h"
    settings.SHOP_ACCOUNT_RATE_PER_IP = "100/h"
    UserFactory(username="ada", email="ada@example.com")
    statuses = [
        reset(Client(HTTP_X_FORWARDED_FOR=f"203.0.113.{n}"), email).status_code
        for n, email in enumerate(["ada@example.com", "ADA@example.com ", "ada@example.com", "ada@example.com"])
    ]
    assert statuses == [302, 302, 302, 429]
    assert Mail.objects.filter(kind="password-reset").count() == 3  # queued, one per allowed request
    # Another shopper's address is not blocked by it.
    assert reset(Client(HTTP_X_FORWARDED_FOR="203.0.113.99"), "grace@example.com").status_code == 302


def test_password_reset_is_limited_per_client_address_with_the_friendly_page(oidc_off, settings):
    settings.SHOP_TRUSTED_PROXY_HOPS = 1
    settings.SHOP_ACCOUNT_RATE_PER_IP = "3/h"
    settings.SHOP_PASSWORD_RESET_RATE_PER_EMAIL = "100/h"
    # A forged X-Forwarded-For entry before nginx's hop changes nothing: the address nginx saw counts.
    responses = [reset(Client(HTTP_X_FORWARDED_FOR=f"10.0.0.{n}, 198.51.100.7"), f"u{n}@example.com") for n in range(4)]
    assert [r.status_code for r in responses] == [302, 302, 302, 429]
    assert responses[-1]["Retry-After"]
    assert b"Too many attempts in a short time" in responses[-1].content
    assert b"Too many orders" not in responses[-1].content


def test_sign_up_is_limited_per_client_address(oidc_off, settings):
    settings.SHOP_TRUSTED_PROXY_HOPS = 1
    settings.SHOP_ACCOUNT_RATE_PER_IP = "2/h"
    statuses = [sign_up(Client(HTTP_X_FORWARDED_FOR="198.51.100.8"), n).status_code for n in range(3)]
    assert statuses == [200, 200, 429]  # 200: the "check your e-mail" page (issue #21)
    # Only POSTs count: the form still shows, and another address can still sign up.
    assert Client(HTTP_X_FORWARDED_FOR="198.51.100.8").get(reverse("accounts:sign-up")).status_code == 200
    assert sign_up(Client(HTTP_X_FORWARDED_FOR="198.51.100.9"), 9).status_code == 200
