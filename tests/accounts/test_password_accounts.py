"""Password accounts of the embedded default (issue #16, "Accounts in the embedded default"): sign-up,
sign-in by e-mail address, password reset by e-mail and password change, with Django's own views.
With single sign-on on, the provider's hosted pages own all of these."""

import re

import pytest
from django.contrib.auth import SESSION_KEY, get_user_model
from django.core import mail
from django.test import Client
from django.urls import reverse

from mailqueue.models import Mail
from tests.accounts.conftest import COGNITO, apply_sign_in_env
from tests.factories import UserFactory
from tests.threads import run_together

pytestmark = pytest.mark.django_db
User = get_user_model()
PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a brand-new passphrase 42"


def sign_up(client, **overrides):
    data = {
        "email": "ada@example.com",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "password1": NEW_PASSWORD,
        "password2": NEW_PASSWORD,
        **overrides,
    }
    return client.post(reverse("accounts:sign-up"), data)


def test_sign_up_creates_an_account_and_sends_the_shopper_to_sign_in(client, oidc_off):
    """Not signed in at once (issue #21): that would tell a stranger the address was free. The page
    says "check your e-mail" and keeps where the shopper was going for the sign-in link."""
    assert client.get(reverse("accounts:sign-up")).status_code == 200
    response = sign_up(client, next="/cart/")
    assert response.status_code == 200
    assert b"Check your e-mail" in response.content
    assert reverse("accounts:login").encode() + b"?next=/cart/" in response.content
    user = User.objects.get(email="ada@example.com")
    assert (user.first_name, user.last_name, user.is_staff) == ("Ada", "Lovelace", False)
    assert user.check_password(NEW_PASSWORD)
    assert SESSION_KEY not in client.session
    signed_in = client.post(reverse("accounts:login"), {"username": "ada@example.com", "password": NEW_PASSWORD})
    assert int(client.session[SESSION_KEY]) == user.pk
    assert signed_in.status_code == 302


def test_sign_up_with_an_e_mail_in_use_in_any_case_makes_no_second_account(client, oidc_off):
    UserFactory(username="ada", email="ada@example.com")
    response = sign_up(client, email="ADA@Example.COM")
    assert response.status_code == 200
    assert b"Check your e-mail" in response.content  # the same page as a new address (tests/security)
    assert User.objects.filter(email__iexact="ada@example.com").count() == 1


def test_sign_up_checks_the_password_rules_and_keeps_what_was_typed(client, oidc_off):
    response = sign_up(client, password1="12345678", password2="12345678")
    assert response.status_code == 200
    assert b"This password is entirely numeric" in response.content
    assert b'value="ada@example.com"' in response.content
    response = sign_up(client, password2="something else entirely")
    assert b"The two passwords do not match" in response.content
    assert not User.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_two_sign_ups_racing_with_one_address_make_one_account(oidc_off):
    """Both at once; the database's unique index on UPPER(email) decides, and the loser's address
    owner is e-mailed instead (not a 500)."""
    clients = [Client(raise_request_exception=False) for _ in range(2)]
    responses = run_together(
        [
            lambda c=client, e=email: sign_up(c, email=e)
            for client, email in zip(clients, ("ada@example.com", "Ada@Example.com"), strict=True)
        ],
        join_timeout=60,
    )
    statuses = [response.status_code for response in responses]
    assert statuses == [200, 200]
    assert User.objects.filter(email__iexact="ada@example.com").count() == 1
    assert sorted(Mail.objects.values_list("kind", flat=True)) == ["account_sign_up_attempt", "account_welcome"]


def test_sign_in_by_e_mail_address_in_any_case(client, oidc_off):
    user = UserFactory(username="ada", email="ada@example.com")
    response = client.post(reverse("accounts:login"), {"username": "  ADA@example.com", "password": PASSWORD})
    assert response.status_code == 302
    assert int(client.session[SESSION_KEY]) == user.pk
    client.post(reverse("accounts:logout"))
    assert client.post(reverse("accounts:login"), {"username": "ada", "password": PASSWORD}).status_code == 302


def test_e_mail_sign_in_never_reaches_a_provider_account(client, oidc_off):
    """A provider account with the same e-mail and (somehow) a password is not a password account."""
    provider_user = UserFactory(username="oidc-1", email="grace@example.com")
    User.objects.filter(pk=provider_user.pk).update(oidc_sub="sub-1")
    response = client.post(reverse("accounts:login"), {"username": "grace@example.com", "password": PASSWORD})
    assert response.status_code == 200
    assert SESSION_KEY not in client.session


def _reset_link(message) -> str:
    """The e-mailed link's path and query (it is on SHOP_SITE_URL, not the request's host)."""
    return re.search(r"https?://[^/\s]+(/account/password/reset/link/\?\S+)", message.text_body)[1]


def test_password_reset_by_e_mail(client, oidc_off):
    user = UserFactory(username="ada", email="ada@example.com")
    assert client.get(reverse("accounts:password-reset")).status_code == 200
    response = client.post(reverse("accounts:password-reset"), {"email": "ADA@example.com"})
    assert response["Location"] == reverse("accounts:password-reset-done")
    assert mail.outbox == []  # queued (issue #21): the mail worker sends it, never the request
    (message,) = Mail.objects.filter(kind="password-reset")
    assert message.to == "ada@example.com"
    assert "Reset your" in message.subject
    link = _reset_link(message)

    form_page = client.get(link, follow=True)
    assert form_page.status_code == 200
    assert b"Choose a new password" in form_page.content
    response = client.post(
        form_page.redirect_chain[-1][0], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )
    assert response["Location"] == reverse("accounts:password-reset-complete")
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    # The link works once.
    assert b"already been used or has expired" in client.get(link, follow=True).content


def test_password_reset_for_an_unknown_address_says_the_same_and_sends_nothing(client, oidc_off):
    response = client.post(reverse("accounts:password-reset"), {"email": "nobody@example.com"})
    assert response["Location"] == reverse("accounts:password-reset-done")
    assert mail.outbox == []
    assert not Mail.objects.exists()


def test_password_change(client, oidc_off):
    user = UserFactory(username="ada")
    assert client.get(reverse("accounts:password-change"))["Location"].startswith(reverse("accounts:login"))
    client.force_login(user)
    assert b"Change password" in client.get(reverse("accounts:profile")).content
    response = client.post(
        reverse("accounts:password-change"),
        {"old_password": "wrong", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response.status_code == 200
    assert b"Your old password was entered incorrectly" in response.content
    response = client.post(
        reverse("accounts:password-change"),
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response["Location"] == reverse("accounts:password-change-done")
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert client.get(reverse("accounts:profile")).status_code == 200  # still signed in here


@pytest.mark.parametrize(
    "name", ["sign-up", "password-reset", "password-reset-done", "password-reset-complete", "password-change"]
)
def test_with_single_sign_on_on_the_provider_owns_accounts(client, settings, monkeypatch, name):
    apply_sign_in_env(settings, monkeypatch, COGNITO)
    response = client.get(reverse(f"accounts:{name}"))
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:login")
    # And the sign-in page offers neither sign-up nor reset (the hosted UI does).
    login = client.get(reverse("accounts:login"))
    assert login.status_code == 302


def test_the_login_page_links_sign_up_and_reset(client, oidc_off):
    page = client.get(reverse("accounts:login")).content.decode()
    assert reverse("accounts:sign-up") in page
    assert reverse("accounts:password-reset") in page
    assert "E-mail address or username" in page


def test_a_password_reset_lifts_a_lockout_on_the_account(client, oidc_off, settings):
    """A name locked by failures (someone guessing) opens again once its owner proves the mailbox."""
    settings.AXES_FAILURE_LIMIT = 5
    user = UserFactory(username="ada", email="ada@example.com")
    for _ in range(5):
        client.post(
            reverse("accounts:login"), {"username": "Ada@Example.com", "password": "wrong"}, REMOTE_ADDR="192.0.2.9"
        )
    signed_in = {"username": "ada@example.com", "password": PASSWORD}
    assert client.post(reverse("accounts:login"), signed_in).status_code == 429  # from any address
    signed_in["password"] = NEW_PASSWORD
    client.post(reverse("accounts:password-reset"), {"email": "ada@example.com"})
    link = _reset_link(Mail.objects.get(kind="password-reset"))
    form_page = client.get(link, follow=True)
    client.post(form_page.redirect_chain[-1][0], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})

    assert client.post(reverse("accounts:login"), signed_in).status_code == 302
    assert int(client.session[SESSION_KEY]) == user.pk
