"""Django's own password form: the default with nothing configured, and break-glass access when
single sign-on is on. Also the admin's login URL, which follows whichever mode is in force."""

import pytest
from django.contrib.auth import SESSION_KEY
from django.urls import reverse

from tests.accounts.conftest import COGNITO, apply_sign_in_env
from tests.factories import StaffUserFactory, UserFactory

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery staple"


def test_the_login_form_is_the_default(client, oidc_off):
    response = client.get(reverse("accounts:login"))
    assert response.status_code == 200
    assert "registration/login.html" in [t.name for t in response.templates]
    assert b'name="password"' in response.content
    assert b"Continue to sign in" not in response.content


def test_a_local_user_signs_in_and_the_session_key_rotates(client, oidc_off):
    user = UserFactory()
    client.get(reverse("accounts:login"))
    client.session.save()
    anonymous_key = client.session.session_key

    response = client.post(
        reverse("accounts:login"), {"username": user.username, "password": PASSWORD, "next": "/cart/"}
    )

    assert response.status_code == 302
    assert response["Location"] == "/cart/"
    assert int(client.session[SESSION_KEY]) == user.pk
    assert client.session.session_key != anonymous_key


def test_a_wrong_password_re_renders_the_form_with_a_message(client, oidc_off):
    user = UserFactory()
    response = client.post(reverse("accounts:login"), {"username": user.username, "password": "wrong"})
    assert response.status_code == 200
    assert b"Please enter a correct e-mail address (or username) and password" in response.content
    assert SESSION_KEY not in client.session


def test_next_to_another_site_is_ignored_by_the_form(client, oidc_off):
    user = UserFactory()
    response = client.post(
        reverse("accounts:login"), {"username": user.username, "password": PASSWORD, "next": "https://evil.example/"}
    )
    assert response["Location"] == reverse("catalog:home")


def test_logout_is_post_only_and_returns_home(client, oidc_off):
    client.force_login(UserFactory())
    assert client.get(reverse("accounts:logout")).status_code == 405
    response = client.post(reverse("accounts:logout"))
    assert response["Location"] == reverse("catalog:home")
    assert SESSION_KEY not in client.session


def test_the_oidc_urls_are_404_while_oidc_is_off(client, oidc_off):
    assert client.get(reverse("oidc_authentication_init")).status_code == 404
    assert client.get(reverse("oidc_authentication_callback"), {"code": "x", "state": "y"}).status_code == 404


def test_the_header_links_to_the_form_with_next(client, oidc_off):
    response = client.get(reverse("cart:detail"))
    assert f'href="{reverse("accounts:login")}?next=/cart/"'.encode() in response.content


def test_with_oidc_on_login_goes_to_the_provider_and_passwords_are_off(client, oidc_on):
    user = UserFactory()
    response = client.get(reverse("accounts:login"), {"next": "/cart/"})
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('oidc_authentication_init')}?next=%2Fcart%2F"

    posted = client.post(reverse("accounts:login"), {"username": user.username, "password": PASSWORD})
    assert posted.status_code == 302
    assert posted["Location"].startswith(reverse("oidc_authentication_init"))
    assert SESSION_KEY not in client.session
    # No password backend at all: nothing else can authenticate with a password either.
    assert client.login(username=user.username, password=PASSWORD) is False


def test_break_glass_form_when_local_login_is_enabled(client, settings, monkeypatch, oidc_provider):
    apply_sign_in_env(settings, monkeypatch, {**oidc_provider.env(), "DJANGO_LOCAL_LOGIN_ENABLED": "true"})
    staff = StaffUserFactory()

    page = client.get(reverse("accounts:login"))
    assert page.status_code == 200
    assert b"Continue to sign in" in page.content
    assert b"Staff emergency access" in page.content

    response = client.post(reverse("accounts:login"), {"username": staff.username, "password": PASSWORD})
    assert int(client.session[SESSION_KEY]) == staff.pk
    # A password sign-out stays local: no trip to the provider.
    response = client.post(reverse("accounts:logout"))
    assert response["Location"] == reverse("catalog:home")


def test_admin_login_uses_the_shop_sign_in(client, oidc_off):
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    follow = client.get(response["Location"])
    assert follow.status_code == 302
    assert follow["Location"] == f"{reverse('accounts:login')}?next=%2Fadmin%2F"


def test_admin_login_goes_to_the_provider_when_oidc_is_on(client, oidc_on):
    response = client.get(reverse("admin:login"), {"next": "/admin/"})
    login = client.get(response["Location"])
    assert login["Location"] == f"{reverse('oidc_authentication_init')}?next=%2Fadmin%2F"


def test_admin_login_refuses_a_signed_in_non_staff_user_without_looping(client, oidc_off):
    client.force_login(UserFactory())
    response = client.get(reverse("admin:login"), {"next": "/admin/"})
    assert response.status_code == 403
    assert b"Staff only" in response.content


def test_staff_reach_the_admin_through_the_form(client, oidc_off):
    staff = StaffUserFactory()
    response = client.post(
        reverse("accounts:login"), {"username": staff.username, "password": PASSWORD, "next": "/admin/"}
    )
    assert response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    # The admin's own logout is ours too (POST, ends the session).
    client.post(reverse("admin:logout"))
    assert SESSION_KEY not in client.session


def test_cognito_sign_out_goes_to_the_hosted_ui_logout(client, settings, monkeypatch):
    apply_sign_in_env(settings, monkeypatch, COGNITO)
    client.force_login(UserFactory(), backend="accounts.auth.ShopOIDCBackend")

    response = client.post(reverse("accounts:logout"))

    assert response["Location"] == (
        "https://maison-aurelia.auth.eu-west-2.amazoncognito.com/logout"
        "?client_id=1example23456789&logout_uri=http%3A%2F%2Ftestserver%2F"
    )
    assert SESSION_KEY not in client.session
