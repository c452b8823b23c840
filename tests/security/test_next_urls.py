# ruff: noqa: F811 - the fixtures imported below are requested by name
"""``next`` values that are not paths on this site (issue #21: "`next` values that look like URL names").

Before: ``?next=orders`` passed Django's host check (a relative URL) and reached ``redirect()``, which
tried to reverse it as a URL name: a 500 on the admin login and after sign-up (account made, shopper
not signed in). After: one gate (accounts.auth_views._safe_next) lets only absolute paths through.
"""

import pytest
from django.contrib.auth import SESSION_KEY
from django.urls import reverse

from tests.accounts.conftest import oidc_off  # noqa: F401 - fixture
from tests.factories import StaffUserFactory, UserFactory

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery staple"
# A bare word, a real URL name (namespaced and not), a view path and other hosts.
UNTRUSTED = [
    "orders",
    "admin:index",
    "oidc_authentication_init",
    "accounts.views.profile",
    "//evil.example/",
    "https://evil.example/",
]


@pytest.mark.parametrize("next_url", UNTRUSTED)
def test_admin_login_with_a_url_name_as_next_goes_to_the_admin(client, oidc_off, next_url):
    client.raise_request_exception = False
    client.force_login(StaffUserFactory())
    response = client.get(reverse("admin-login"), {"next": next_url})
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:index")


@pytest.mark.parametrize("next_url", UNTRUSTED)
def test_sign_in_with_a_url_name_as_next_goes_home(client, oidc_off, next_url):
    client.raise_request_exception = False
    user = UserFactory(username="ada")
    user.set_password(PASSWORD)
    user.save()
    page = client.get(reverse("accounts:login"), {"next": next_url})
    assert page.status_code == 200
    assert f'value="{next_url}"'.encode() not in page.content
    response = client.post(reverse("accounts:login"), {"username": "ada", "password": PASSWORD, "next": next_url})
    assert response.status_code == 302
    assert response["Location"] == reverse("catalog:home")
    assert int(client.session[SESSION_KEY]) == user.pk


def test_a_path_on_this_site_is_still_followed(client, oidc_off):
    user = UserFactory(username="ada")
    user.set_password(PASSWORD)
    user.save()
    response = client.post(reverse("accounts:login"), {"username": "ada", "password": PASSWORD, "next": "/cart/"})
    assert response["Location"] == "/cart/"
    client.force_login(StaffUserFactory())
    assert client.get(reverse("admin-login"), {"next": "/admin/orders/"})["Location"] == "/admin/orders/"


@pytest.mark.parametrize("next_url", UNTRUSTED)
def test_sign_up_with_a_url_name_as_next_never_500s(client, oidc_off, next_url):
    client.raise_request_exception = False
    page = client.get(reverse("accounts:sign-up"), {"next": next_url})
    assert page.status_code == 200
    data = {
        "email": "ada@example.com",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "password1": "a brand-new passphrase 42",
        "password2": "a brand-new passphrase 42",
        "next": next_url,
    }
    response = client.post(reverse("accounts:sign-up"), data)
    assert response.status_code < 500
    assert next_url not in response.get("Location", "")
