"""`make run`'s accounts on SQLite: sign up, sign out, sign in by e-mail, a lockout, a password reset.

The Postgres suite covers each piece in depth (tests/accounts/test_password_accounts.py,
tests/security/test_sign_in.py); this walks them once on the database `make run` really uses.
"""

import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from mailqueue.models import Mail

pytestmark = pytest.mark.django_db
PASSWORD = "a-long-test-password-1"
NEW_PASSWORD = "a-brand-new-password-2"


def test_a_shopper_signs_up_signs_in_by_e_mail_is_locked_out_and_resets(client):
    signed_up = client.post(
        reverse("accounts:sign-up"),
        {"email": "Ada@Example.com", "first_name": "Ada", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert b"Check your e-mail" in signed_up.content  # not signed in at once (issue #21)
    assert (
        client.post(reverse("accounts:login"), {"username": "ada@example.com", "password": PASSWORD}).status_code == 302
    )

    stranger = Client()
    answers = [
        stranger.post(reverse("accounts:login"), {"username": "ADA@example.com", "password": "guess"}).status_code
        for _ in range(5)
    ]
    assert answers == [200, 200, 200, 200, 429]

    stranger.post(reverse("accounts:password-reset"), {"email": "ada@example.com"})
    # Queued (issue #21): `make run`'s worker prints it; the link is on the shop's site URL, token in the query.
    assert mail.outbox == []
    body = Mail.objects.get(kind="password-reset").text_body
    link = re.search(r"https?://[^/\s]+(/account/password/reset/link/\?\S+)", body)[1]
    form_page = stranger.get(link, follow=True)
    done = stranger.post(
        form_page.redirect_chain[-1][0], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )
    assert done["Location"] == reverse("accounts:password-reset-complete")
    fresh = Client()
    assert (
        fresh.post(reverse("accounts:login"), {"username": "ada@example.com", "password": NEW_PASSWORD}).status_code
        == 302
    )
