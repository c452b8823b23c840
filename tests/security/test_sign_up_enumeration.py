# ruff: noqa: F811 - the fixtures imported below are requested by name
"""Sign-up does not tell who has an account (issue #21: "Sign-up says 'An account already uses this
e-mail address'").

Before: a known address got the form back with that message; a new one was signed in and redirected.
After: both get the same "check your e-mail" page, nobody is signed in, and the address's inbox gets
the news through the mail queue: a welcome for a new account, "someone tried to sign up with your
address; sign in or reset" for an existing one.
"""

import pytest
from django.contrib.auth import SESSION_KEY, get_user_model
from django.db import IntegrityError
from django.test import Client
from django.urls import reverse

from mailqueue.models import Mail
from tests.accounts.conftest import oidc_off  # noqa: F401 - fixture
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
User = get_user_model()
PASSWORD = "a brand-new passphrase 42"


def sign_up(client: Client, email: str):
    data = {"email": email, "first_name": "Ada", "last_name": "L", "password1": PASSWORD, "password2": PASSWORD}
    return client.post(reverse("accounts:sign-up") + "?next=/cart/", {**data, "next": "/cart/"})


def shape(response, email: str) -> tuple:
    """What a stranger sees: status, templates, headers' names, cookies set, the page minus the address typed."""
    page = response.content.decode().replace(email, "EMAIL")
    page = page.replace(response.wsgi_request.META.get("CSRF_COOKIE", "-"), "CSRF")
    return (
        response.status_code,
        [t.name for t in response.templates if "email/" not in t.name],  # the page's, not the e-mail's
        sorted(name for name, _ in response.items() if name.lower() not in {"content-length", "x-request-id"}),
        sorted(response.cookies),
        page,
    )


def test_a_known_and_a_new_address_get_the_same_answer(oidc_off, settings):
    settings.SHOP_SITE_URL = "https://shop.example"
    owner = UserFactory(username="ada", email="ada@example.com")
    known_client, new_client = Client(), Client()
    known = sign_up(known_client, "ADA@example.com")
    new = sign_up(new_client, "grace@example.com")

    assert shape(known, "ADA@example.com") == shape(new, "grace@example.com")
    assert known.status_code == 200
    assert b"Check your e-mail" in new.content
    assert b"already" not in known.content
    # Nobody is signed in, and the known account is untouched.
    assert SESSION_KEY not in known_client.session
    assert SESSION_KEY not in new_client.session
    owner.refresh_from_db()
    assert owner.check_password("correct horse battery staple")
    assert User.objects.filter(email__iexact="ada@example.com").count() == 1
    assert User.objects.get(email="grace@example.com").check_password(PASSWORD)


def test_the_owner_is_told_by_e_mail_through_the_mail_queue(oidc_off, settings, django_capture_on_commit_callbacks):
    settings.SHOP_SITE_URL = "https://shop.example"
    UserFactory(username="ada", email="ada@example.com")
    with django_capture_on_commit_callbacks(execute=False) as queued:
        sign_up(Client(), "Ada@Example.com")
        sign_up(Client(), "grace@example.com")
    assert len(queued) == 2  # one delivery task each, enqueued after commit
    attempt = Mail.objects.get(kind="account_sign_up_attempt")
    welcome = Mail.objects.get(kind="account_welcome")
    assert attempt.to == "ada@example.com"  # the owner's own address, as stored
    assert "Someone tried to create an account" in attempt.text_body
    assert "https://shop.example/account/password/reset/" in attempt.text_body
    assert "https://shop.example/account/login/" in attempt.text_body
    assert welcome.to == "grace@example.com"
    assert "Your account for this e-mail address is ready" in welcome.text_body
    # No password, nothing the stranger typed but the address, goes into either.
    for mail in (attempt, welcome):
        assert PASSWORD not in mail.text_body + mail.html_body


def test_sign_up_e_mails_to_one_address_are_limited(oidc_off, settings):
    settings.SHOP_PASSWORD_RESET_RATE_PER_EMAIL = "2/h"
    UserFactory(username="ada", email="ada@example.com")
    statuses = [sign_up(Client(HTTP_X_FORWARDED_FOR=f"192.0.2.{n}"), "ada@example.com").status_code for n in range(3)]
    assert statuses == [200, 200, 429]
    assert Mail.objects.filter(kind="account_sign_up_attempt").count() == 2


@pytest.mark.parametrize("email", ["ada@example.com", "grace@example.com"])
def test_a_sign_up_stays_within_its_query_budget(oidc_off, django_assert_max_num_queries, email):
    UserFactory(username="ada", email="ada@example.com")
    with django_assert_max_num_queries(11):
        sign_up(Client(), email)


def test_a_dotless_i_spelling_of_a_known_address_makes_no_second_account(oidc_off):
    """The sign-in backend's iexact (Postgres UPPER) finds alice@ for "alıce@", the lower(email) index
    does not: a second account "alıce@" would leave alice@ with two matches, unable to sign in by
    e-mail. Now the sign-up checks with the backend's rule and mails the owner."""
    alice = UserFactory(username="alice", email="alice@example.com")
    response = sign_up(Client(), "alıce@example.com")
    assert response.status_code == 200
    assert User.objects.filter(oidc_sub__isnull=True, email__iexact="alice@example.com").count() == 1
    assert Mail.objects.get(kind="account_sign_up_attempt").to == "alice@example.com"
    signed_in = Client()
    signed_in.post(
        reverse("accounts:login"), {"username": "alice@example.com", "password": "correct horse battery staple"}
    )
    assert str(signed_in.session.get(SESSION_KEY)) == str(alice.pk)


@pytest.mark.django_db(transaction=True)
def test_the_database_refuses_a_dotless_i_twin_of_an_address_even_past_the_check():
    """What settles two sign-ups racing past the check: the unique index is on UPPER(email), the
    backend's rule. Before: on lower(email), which keeps "alıce" and "alice" apart."""
    UserFactory(username="alice", email="alice@example.com")
    with pytest.raises(IntegrityError):
        User.objects.create_user("alice2", email="alıce@example.com", password=PASSWORD)
