"""Issue 21: a ``next`` that reads like a URL name ("?next=orders") gave a 500 (django.shortcuts.redirect
tries it as a view name first): after sign-up (the account was created, the shopper not signed in) and on the
admin login of someone already signed in. Only a path on this site is followed now (accounts/auth_views.py
_safe_next; tests/security/test_next_urls.py has the sign-in side); anything else is the default page."""

import pytest
from django.contrib.auth import SESSION_KEY, get_user_model
from django.urls import reverse

from tests.accounts.conftest import oidc_off  # noqa: F401 - the fixture: password accounts
from tests.factories import StaffUserFactory

pytestmark = pytest.mark.django_db
PASSWORD = "a brand-new passphrase 42"
NAMES = ["orders", "accounts:profile", "admin:index", "logout"]


@pytest.mark.usefixtures("oidc_off")
@pytest.mark.parametrize("next_value", NAMES)
def test_sign_up_with_a_url_name_as_next_creates_the_account_without_a_500(client, next_value):
    """Sign-up answers every address alike ("check your e-mail", nobody signed in: issue 21's enumeration
    fix), so the old 500 after the account was created is what this guards: the page, and the account."""
    client.raise_request_exception = False
    data = {"email": "ada@example.com", "first_name": "Ada", "password1": PASSWORD, "password2": PASSWORD}
    response = client.post(reverse("accounts:sign-up"), {**data, "next": next_value})

    assert response.status_code in (200, 302), response.status_code
    assert get_user_model().objects.filter(email="ada@example.com").exists()
    assert SESSION_KEY not in client.session


@pytest.mark.parametrize("next_value", NAMES)
def test_the_admin_login_of_a_signed_in_member_of_staff_ignores_a_url_name(client, next_value):
    client.raise_request_exception = False
    client.force_login(StaffUserFactory())
    response = client.get(reverse("admin-login"), {"next": next_value})

    assert response.status_code == 302
    assert response["Location"] == reverse("admin:index")
