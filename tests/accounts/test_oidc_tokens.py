"""The ID-token checks, with tokens the test signs itself: each bad token refuses the sign-in,
shows the friendly page, logs a security event without the token, and creates no user."""

import json
import logging
import socket
import time

import pytest
from django.contrib.auth import SESSION_KEY, get_user_model
from django.urls import reverse

from tests.accounts.conftest import callback, start_sign_in
from tests.accounts.token_server import CLIENT_ID, CLIENT_SECRET, new_rsa_key

pytestmark = pytest.mark.django_db
User = get_user_model()


def assert_refused(response, caplog, *, reason: str, token: str = "", status: int = 400) -> None:
    assert response.status_code == status
    assert "accounts/login_failed.html" in [t.name for t in response.templates]
    assert SESSION_KEY not in response.wsgi_request.session
    assert not User.objects.exists()
    events = [r for r in caplog.records if r.name == "shop.security" and getattr(r, "event", "") == "oidc_login_failed"]
    assert [e.reason for e in events] == [reason]
    if token:
        # Neither the whole token nor its signature part reaches any log record.
        for record in caplog.records:
            text = record.getMessage() + json.dumps({k: str(v) for k, v in vars(record).items()})
            assert token not in text
            assert token.rsplit(".", 1)[-1] not in text


def test_a_well_formed_token_signs_in(client, token_server):
    """The harness itself: a correct token does sign in, so the refusals below mean something."""
    state, nonce = start_sign_in(client)
    token_server.issue(token_server.claims(nonce=nonce))

    response = callback(client, code="c1", state=state)

    assert response.status_code == 302
    user = User.objects.get()
    assert user.oidc_sub == "self-signed-sub-1"
    assert int(client.session[SESSION_KEY]) == user.pk
    # The code went to the token endpoint and the key came from the JWKS over HTTP.
    assert "POST /token" in token_server.requests
    assert "GET /jwks" in token_server.requests


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"aud": "someone-elses-client"}, "wrong_audience"),
        ({"iss": "https://evil.example"}, "wrong_issuer"),
        ({"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200}, "token_expired"),
        ({"exp": None}, "missing_claim"),
        ({"aud": [CLIENT_ID, "other-client"]}, "wrong_authorized_party"),
        ({"nonce": "not-the-nonce-we-sent"}, "bad_nonce"),
        ({"nonce": None}, "bad_nonce"),
    ],
    ids=["wrong-audience", "wrong-issuer", "expired", "no-exp", "two-audiences-no-azp", "bad-nonce", "no-nonce"],
)
def test_bad_claims_are_refused(client, token_server, caplog, overrides, reason):
    state, nonce = start_sign_in(client)
    claims = token_server.claims(nonce=nonce, **{k: v for k, v in overrides.items() if k != "nonce"})
    if "nonce" in overrides:
        claims = {**claims, "nonce": overrides["nonce"]}
        claims = {k: v for k, v in claims.items() if v is not None}
    token = token_server.issue(claims)
    with caplog.at_level(logging.INFO):
        response = callback(client, code="c1", state=state)
    assert_refused(response, caplog, reason=reason, token=token)


def test_alg_none_is_refused_without_fetching_keys(client, token_server, caplog):
    state, nonce = start_sign_in(client)
    token = token_server.issue(token_server.claims(nonce=nonce), key=None, algorithm="none")
    assert token.endswith(".")  # really unsigned
    with caplog.at_level(logging.INFO):
        response = callback(client, code="c1", state=state)
    assert_refused(response, caplog, reason="algorithm_not_allowed")
    assert "GET /jwks" not in token_server.requests


def test_hs256_signed_with_the_client_secret_is_refused(client, token_server, caplog):
    """Algorithm confusion: a token MACed with our own client secret must not pass as the provider's."""
    state, nonce = start_sign_in(client)
    token_server.issue(token_server.claims(nonce=nonce), key=CLIENT_SECRET, algorithm="HS256")
    with caplog.at_level(logging.INFO):
        response = callback(client, code="c1", state=state)
    assert_refused(response, caplog, reason="algorithm_not_allowed")


def test_a_token_signed_by_another_key_is_refused(client, token_server, caplog):
    state, nonce = start_sign_in(client)
    token = token_server.issue(token_server.claims(nonce=nonce), key=new_rsa_key())
    with caplog.at_level(logging.INFO):
        response = callback(client, code="c1", state=state)
    assert_refused(response, caplog, reason="bad_signature", token=token)


def test_an_unknown_key_id_is_refused(client, token_server, caplog):
    state, nonce = start_sign_in(client)
    token_server.issue(token_server.claims(nonce=nonce), kid="not-in-the-jwks")
    with caplog.at_level(logging.INFO):
        response = callback(client, code="c1", state=state)
    assert_refused(response, caplog, reason="unknown_signing_key")


@pytest.mark.parametrize("token_use", ["access", None])
def test_cognito_requires_token_use_id(client, token_server, settings, caplog, token_use):
    settings.OIDC_EXPECTED_TOKEN_USE = "id"  # what Cognito mode sets (see test_oidc_config)
    state, nonce = start_sign_in(client)
    token_server.issue(token_server.claims(nonce=nonce, token_use=token_use))
    with caplog.at_level(logging.INFO):
        response = callback(client, code="c1", state=state)
    assert_refused(response, caplog, reason="wrong_token_use")


def test_userinfo_about_someone_else_is_refused(client, token_server, caplog):
    state, nonce = start_sign_in(client)
    token_server.issue(token_server.claims(nonce=nonce))
    token_server.userinfo = {"sub": "a-different-person", "email": "x@example.com"}
    with caplog.at_level(logging.INFO):
        response = callback(client, code="c1", state=state)
    assert_refused(response, caplog, reason="userinfo_subject_mismatch")


def test_a_refused_code_exchange_is_refused(client, token_server, caplog):
    state, _nonce = start_sign_in(client)
    token_server.token_status = 400
    with caplog.at_level(logging.INFO):
        response = callback(client, code="c1", state=state)
    assert_refused(response, caplog, reason="token_exchange_refused")


def test_replayed_state_is_refused(client, token_server, caplog):
    state, nonce = start_sign_in(client)
    token_server.issue(token_server.claims(nonce=nonce))
    assert callback(client, code="c1", state=state).status_code == 302
    User.objects.all().delete()
    client.logout()

    with caplog.at_level(logging.INFO):
        response = callback(client, code="c1", state=state)
    assert_refused(response, caplog, reason="unknown_state")


def test_state_from_another_browser_is_refused(client, token_server, caplog):
    """A callback carrying a state this session never issued (login CSRF) is refused."""
    state, nonce = start_sign_in(client)
    token_server.issue(token_server.claims(nonce=nonce))
    client.cookies.clear()
    with caplog.at_level(logging.INFO):
        response = callback(client, code="c1", state=state)
    assert_refused(response, caplog, reason="unknown_state")


def test_callback_without_code_is_refused(client, token_server, caplog):
    state, _nonce = start_sign_in(client)
    with caplog.at_level(logging.INFO):
        response = callback(client, state=state)
    assert_refused(response, caplog, reason="missing_code_or_state")


def test_response_naming_another_issuer_is_refused(client, token_server, caplog):
    """RFC 9207 mix-up defence: the `iss` response parameter must be our provider's."""
    state, nonce = start_sign_in(client)
    token_server.issue(token_server.claims(nonce=nonce))
    with caplog.at_level(logging.INFO):
        response = callback(client, code="c1", state=state, iss="https://evil.example")
    assert_refused(response, caplog, reason="wrong_issuer_in_response")
    assert "POST /token" not in token_server.requests


def test_provider_error_shows_the_cancelled_page_and_forgets_the_state(client, token_server, caplog):
    state, _nonce = start_sign_in(client)
    with caplog.at_level(logging.INFO):
        response = callback(client, error="access_denied", state=state)
    assert_refused(response, caplog, reason="provider_error:access_denied")
    assert b"Sign-in cancelled" in response.content
    assert state not in client.session.get("oidc_states", {})


def test_an_unreachable_provider_shows_the_friendly_page(client, token_server, settings, caplog):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead = closed.getsockname()[1]
    settings.OIDC_OP_TOKEN_ENDPOINT = f"http://127.0.0.1:{dead}/token"
    state, _nonce = start_sign_in(client)
    with caplog.at_level(logging.INFO):
        response = callback(client, code="c1", state=state)
    assert_refused(response, caplog, reason="provider_unreachable", status=503)
    assert b"could not reach the sign-in service" in response.content


def test_a_slow_provider_is_abandoned_within_the_timeout(client, token_server, settings, caplog):
    """A provider that accepts the connection and never answers: the request gives up at OIDC_TIMEOUT."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # connections complete in the backlog; nothing ever replies
        settings.OIDC_OP_TOKEN_ENDPOINT = f"http://127.0.0.1:{silent.getsockname()[1]}/token"
        settings.OIDC_TIMEOUT = 0.5
        state, _nonce = start_sign_in(client)
        started = time.monotonic()
        with caplog.at_level(logging.INFO):
            response = callback(client, code="c1", state=state)
        elapsed = time.monotonic() - started
    assert_refused(response, caplog, reason="provider_unreachable", status=503)
    # Without the timeout the request would wait forever on the silent socket, so a loose bound (60x the
    # timeout) catches the bug without failing on a loaded machine.
    assert elapsed < 30


@pytest.mark.parametrize("target", ["https://evil.example/steal", "//evil.example/", "http://testserver.evil.example/"])
def test_next_to_another_site_is_dropped(client, token_server, target):
    state, nonce = start_sign_in(client, next=target)
    token_server.issue(token_server.claims(nonce=nonce))
    response = callback(client, code="c1", state=state)
    assert response.status_code == 302
    assert response["Location"] == reverse("catalog:home")


def test_next_on_this_site_is_followed(client, token_server):
    state, nonce = start_sign_in(client, next="/cart/?from=sign-in")
    token_server.issue(token_server.claims(nonce=nonce))
    response = callback(client, code="c1", state=state)
    assert response["Location"] == "/cart/?from=sign-in"
