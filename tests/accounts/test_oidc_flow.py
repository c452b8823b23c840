"""The whole authorization-code flow against the real test provider (npm oidc-provider on loopback):
the Django test client plays our side, a requests session plays the person at the provider."""

from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.contrib.auth import SESSION_KEY, get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.auth.signals import user_logged_in
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db
User = get_user_model()


def sign_in(client, provider, username: str, *, browser: requests.Session | None = None, next_url: str = ""):
    """Shop sign-in link -> provider -> our callback; returns the callback's response."""
    account = provider.user(username)
    login = client.get(reverse("accounts:login"), {"next": next_url} if next_url else {})
    assert login.status_code == 302
    start = client.get(login["Location"])
    authorize_url = start["Location"]
    assert authorize_url.startswith(provider.issuer)
    back = provider.sign_in(
        browser or requests.Session(), authorize_url, username=username, password=account["password"]
    )
    assert back.startswith("http://testserver/oidc/callback/")
    return client.get(back.removeprefix("http://testserver"))


def test_the_authorize_request_uses_pkce_nonce_and_state(client, oidc_on):
    start = client.get(reverse("oidc_authentication_init"))
    query = parse_qs(urlsplit(start["Location"]).query)
    assert query["response_type"] == ["code"]
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["code_challenge"][0]) >= 43
    assert len(query["state"][0]) >= 32
    assert len(query["nonce"][0]) >= 32
    assert query["scope"] == ["openid email profile"]
    assert query["redirect_uri"] == ["http://testserver/oidc/callback/"]


def test_a_shopper_signs_in_and_is_matched_by_sub(client, oidc_on):
    response = sign_in(client, oidc_on, "ada@example.com")

    assert response.status_code == 302
    assert response["Location"] == reverse("catalog:home")
    user = User.objects.get()
    ada = oidc_on.user("ada@example.com")
    assert (user.oidc_sub, user.email, user.first_name, user.last_name) == (ada["sub"], ada["email"], "Ada", "Lovelace")
    assert not user.is_staff
    assert not user.has_usable_password()
    assert int(client.session[SESSION_KEY]) == user.pk

    # A second sign-in finds the same user (by sub), even though a local user now shares the e-mail.
    User.objects.create_user("local-ada", email=ada["email"], password="x-y-z-local-password")
    client.post(reverse("accounts:logout"))
    sign_in(client, oidc_on, "ada@example.com")
    assert int(client.session[SESSION_KEY]) == user.pk
    assert User.objects.filter(oidc_sub__isnull=False).count() == 1


def test_session_key_rotates_and_user_logged_in_fires(client, oidc_on):
    """Rotation defeats session fixation; the signal is what merges the anonymous cart."""
    client.get(reverse("oidc_authentication_init"))
    anonymous_key = client.session.session_key
    seen = []

    def record(sender, request, user, **kwargs):
        seen.append((user.oidc_sub, request.session.session_key))

    user_logged_in.connect(record, dispatch_uid="test-oidc-login-signal")
    try:
        sign_in(client, oidc_on, "ada@example.com")
    finally:
        user_logged_in.disconnect(dispatch_uid="test-oidc-login-signal")

    assert client.session.session_key != anonymous_key
    assert seen == [(oidc_on.user("ada@example.com")["sub"], client.session.session_key)]


def test_next_is_followed_within_the_site(client, oidc_on):
    response = sign_in(client, oidc_on, "ada@example.com", next_url="/account/addresses/")
    assert response["Location"] == "/account/addresses/"


def test_the_staff_group_makes_staff_and_leaving_it_revokes(client, oidc_on):
    grace = oidc_on.user("grace@example.com")
    browser = requests.Session()
    sign_in(client, oidc_on, "grace@example.com", browser=browser)
    user = User.objects.get(oidc_sub=grace["sub"])
    assert user.is_staff
    assert not user.is_superuser
    # The mirrored Django group was created with the shop's default permissions, and applies.
    assert [g.name for g in user.groups.all()] == ["staff"]
    assert user.has_perm("catalog.change_product")
    assert user.has_perm("orders.view_order")
    assert not user.has_perm("accounts.change_user")
    assert client.get(reverse("admin:index")).status_code == 200

    oidc_on.set_claims(grace["sub"], **{"cognito:groups": []})
    try:
        client.post(reverse("accounts:logout"))
        sign_in(client, oidc_on, "grace@example.com", browser=browser)  # provider session: no form this time
    finally:
        oidc_on.set_claims(grace["sub"], **{"cognito:groups": grace["cognito:groups"]})

    user = User.objects.get(pk=user.pk)  # fresh: no cached permissions
    assert not user.is_staff
    assert not user.groups.exists()
    assert not user.has_perm("catalog.change_product")
    response = client.get(reverse("admin:index"), follow=True)
    assert response.status_code == 403
    assert b"Staff only" in response.content


def test_an_existing_staff_group_keeps_the_permissions_it_was_given(client, oidc_on):
    group = Group.objects.create(name="staff")
    group.permissions.set(Permission.objects.filter(codename="view_product"))
    sign_in(client, oidc_on, "grace@example.com")
    user = User.objects.get()
    assert list(user.groups.all()) == [group]
    assert list(group.permissions.values_list("codename", flat=True)) == ["view_product"]
    assert not user.has_perm("catalog.change_product")


def test_the_staff_group_name_is_configurable(client, oidc_on, settings):
    settings.OIDC_STAFF_GROUP = "shop-admins"
    sign_in(client, oidc_on, "grace@example.com")  # in "staff", not "shop-admins"
    assert not User.objects.get().is_staff


def test_an_unverified_email_is_not_taken(client, oidc_on):
    sign_in(client, oidc_on, "unverified@example.com")
    user = User.objects.get()
    assert user.email == ""
    assert user.first_name == "Una"


def test_a_nonce_that_does_not_match_refuses_the_sign_in(client, oidc_on):
    """The provider echoes the nonce we sent; if the session remembers another one, no sign-in."""
    account = oidc_on.user("ada@example.com")
    start = client.get(reverse("oidc_authentication_init"))
    session = client.session
    for entry in session["oidc_states"].values():
        entry["nonce"] = "a-nonce-we-never-sent"
    session.save()
    back = oidc_on.sign_in(
        requests.Session(), start["Location"], username=account["username"], password=account["password"]
    )

    response = client.get(back.removeprefix("http://testserver"))

    assert response.status_code == 400
    assert not User.objects.exists()


def test_a_callback_url_replayed_in_another_browser_is_refused(client, oidc_on):
    account = oidc_on.user("ada@example.com")
    start = client.get(reverse("oidc_authentication_init"))
    back = oidc_on.sign_in(
        requests.Session(), start["Location"], username=account["username"], password=account["password"]
    )
    assert client.get(back.removeprefix("http://testserver")).status_code == 302

    other_browser = Client()
    replay = other_browser.get(back.removeprefix("http://testserver"))
    assert replay.status_code == 400
    assert SESSION_KEY not in other_browser.session


def test_logout_is_post_with_csrf_and_ends_the_provider_session(oidc_on):
    client = Client(enforce_csrf_checks=True)
    sign_in(client, oidc_on, "ada@example.com")

    assert client.get(reverse("accounts:logout")).status_code == 405
    assert client.post(reverse("accounts:logout")).status_code == 403  # no CSRF token
    assert SESSION_KEY in client.session

    page = client.get(reverse("accounts:profile"))
    token = page.context["csrf_token"]
    response = client.post(reverse("accounts:logout"), {"csrfmiddlewaretoken": str(token)})

    assert response.status_code == 302
    target = urlsplit(response["Location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == f"{oidc_on.issuer}/session/end"
    assert parse_qs(target.query) == {
        "client_id": [oidc_on.client_id],
        "post_logout_redirect_uri": ["http://testserver/"],
    }
    assert SESSION_KEY not in client.session
    assert client.get(reverse("accounts:profile")).status_code == 302


def test_cognito_style_token_use_check_passes_for_a_real_id_token(client, oidc_on, settings):
    """Like Cognito, the test provider marks ID tokens token_use=id; requiring it lets them through."""
    settings.OIDC_EXPECTED_TOKEN_USE = "id"
    response = sign_in(client, oidc_on, "ada@example.com")
    assert response.status_code == 302
    assert User.objects.count() == 1


def test_an_expired_state_is_refused_with_its_own_page(client, oidc_on, settings):
    """Before: a started sign-in stayed usable for the life of the session. After: older than
    OIDC_STATE_MAX_AGE, it is refused with a "took too long" page (400) and dropped."""
    ada = oidc_on.user("ada@example.com")
    start = client.get(reverse("oidc_authentication_init"))
    state = parse_qs(urlsplit(start["Location"]).query)["state"][0]
    session = client.session
    states = session["oidc_states"]
    states[state]["added_on"] -= settings.OIDC_STATE_MAX_AGE + 1  # started longer ago than allowed
    session["oidc_states"] = states
    session.save()
    back = oidc_on.sign_in(requests.Session(), start["Location"], username=ada["email"], password=ada["password"])

    response = client.get(back.removeprefix("http://testserver"))

    assert response.status_code == 400
    assert b"took too long" in response.content
    assert SESSION_KEY not in client.session
    assert state not in client.session.get("oidc_states", {})
    # A fresh start signs in as usual.
    assert sign_in(client, oidc_on, "ada@example.com").status_code == 302


def test_a_staff_member_removed_from_the_group_loses_the_admin_within_the_bound(client, oidc_on, settings):
    """Before: the staff flag was re-read only at the next sign-in (up to SESSION_COOKIE_AGE, 14 days).
    After: a provider staff session older than STAFF_SESSION_MAX_AGE (1 hour) is ended and the browser
    sent back through the provider, whose groups decide again."""
    from accounts.middleware import VERIFIED_AT_KEY

    grace = oidc_on.user("grace@example.com")
    browser = requests.Session()
    sign_in(client, oidc_on, "grace@example.com", browser=browser)
    assert client.get(reverse("admin:index")).status_code == 200
    oidc_on.set_claims(grace["sub"], **{"cognito:groups": []})
    try:
        # Within the bound the session stands (the re-check is not on every request).
        assert client.get(reverse("admin:index")).status_code == 200
        session = client.session
        session[VERIFIED_AT_KEY] -= settings.STAFF_SESSION_MAX_AGE + 1  # the hour has passed
        session.save()

        response = client.get(reverse("admin:index"))
        assert response.status_code == 302
        assert response["Location"] == f"{reverse('accounts:login')}?next=%2Fadmin%2F"
        assert SESSION_KEY not in client.session
        # The browser goes round through the provider (its session is alive: no password asked).
        again = client.get(response["Location"])
        start = client.get(again["Location"])
        back = oidc_on.sign_in(browser, start["Location"], username=grace["email"], password="not-asked")
        assert client.get(back.removeprefix("http://testserver"))["Location"] == "/admin/"
    finally:
        oidc_on.set_claims(grace["sub"], **{"cognito:groups": grace["cognito:groups"]})

    assert not User.objects.get(oidc_sub=grace["sub"]).is_staff
    response = client.get(reverse("admin:index"), follow=True)
    assert response.status_code == 403
    assert b"Staff only" in response.content


def test_a_shopper_session_is_not_cut_by_the_staff_bound(client, oidc_on, settings):
    from accounts.middleware import VERIFIED_AT_KEY

    sign_in(client, oidc_on, "ada@example.com")
    session = client.session
    session[VERIFIED_AT_KEY] -= settings.STAFF_SESSION_MAX_AGE + 1
    session.save()
    assert client.get(reverse("accounts:profile")).status_code == 200
