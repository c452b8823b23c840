"""Issue 21: a ``next`` that reads like a URL name ("?next=orders") gave a 500 (django.shortcuts.redirect
tries it as a view name first): after sign-up (the account was created, the shopper not signed in) and on the
admin login of someone already signed in. Only a path on this site (or a URL on its host) is followed now;
anything else is the default page."""

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
def test_sign_up_with_a_url_name_as_next_signs_in_and_goes_to_the_profile(client, next_value):
    client.raise_request_exception = False
    data = {"email": "ada@example.com", "first_name": "Ada", "password1": PASSWORD, "password2": PASSWORD}
    response = client.post(reverse("accounts:sign-up"), {**data, "next": next_value})

    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:profile")
    assert int(client.session[SESSION_KEY]) == get_user_model().objects.get(email="ada@example.com").pk


@pytest.mark.parametrize("next_value", NAMES)
def test_the_admin_login_of_a_signed_in_member_of_staff_ignores_a_url_name(client, next_value):
    client.raise_request_exception = False
    client.force_login(StaffUserFactory())
    response = client.get(reverse("admin-login"), {"next": next_value})

    assert response.status_code == 302
    assert response["Location"] == reverse("admin:index")


@pytest.mark.usefixtures("oidc_off")
def test_a_path_on_the_site_is_still_followed(client):
    data = {"email": "ada@example.com", "first_name": "Ada", "password1": PASSWORD, "password2": PASSWORD}
    response = client.post(reverse("accounts:sign-up"), {**data, "next": "/cart/"})
    assert response["Location"] == "/cart/"
