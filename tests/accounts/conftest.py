"""Sign-in fixtures: OIDC off (the `make run` default), on against the real test provider, or on
against the self-signed token server for the negative cases."""

from urllib.parse import parse_qs, urlsplit

import environ
import pytest
from django.urls import reverse

from accounts.oidc_config import _TRIGGERS, oidc_settings
from tests.accounts.token_server import TokenServer

# A complete (made-up) Cognito configuration: no network is needed until someone signs in.
COGNITO = {
    "DJANGO_COGNITO_REGION": "eu-west-2",
    "DJANGO_COGNITO_USER_POOL_ID": "eu-west-2_AbCdEf123",
    "DJANGO_COGNITO_CLIENT_ID": "1example23456789",
    "DJANGO_COGNITO_CLIENT_SECRET": "secret-from-secrets-manager",
    "DJANGO_COGNITO_DOMAIN": "maison-aurelia.auth.eu-west-2.amazoncognito.com",
}


def apply_sign_in_env(settings, monkeypatch, env: dict[str, str]) -> dict:
    """Set exactly these DJANGO_* variables, derive the settings as base.py does, and apply them."""
    for name in (*_TRIGGERS, "DJANGO_LOCAL_LOGIN_ENABLED", "DJANGO_OIDC_STAFF_GROUP", "DJANGO_OIDC_GROUPS_CLAIM"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    derived = oidc_settings(environ.Env())
    for name, value in derived.items():
        setattr(settings, name, value)
    return derived


@pytest.fixture
def oidc_off(settings, monkeypatch):
    """The embedded default: no provider configured, Django's password form."""
    return apply_sign_in_env(settings, monkeypatch, {})


@pytest.fixture
def oidc_on(settings, monkeypatch, oidc_provider):
    """Sign-in through the real test provider (npm oidc-provider on loopback)."""
    apply_sign_in_env(settings, monkeypatch, oidc_provider.env())
    return oidc_provider


@pytest.fixture(scope="session")
def _token_server():
    server = TokenServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def token_server(_token_server, settings, monkeypatch):
    """OIDC on, with ID tokens the test signs itself (see token_server.py)."""
    _token_server.reset()
    apply_sign_in_env(settings, monkeypatch, _token_server.env())
    return _token_server


def start_sign_in(client, **params) -> tuple[str, str]:
    """Begin the flow at /oidc/authenticate/; return the (state, nonce) sent to the provider."""
    response = client.get(reverse("oidc_authentication_init"), params)
    assert response.status_code == 302
    query = parse_qs(urlsplit(response["Location"]).query)
    return query["state"][0], query["nonce"][0]


def callback(client, **params):
    return client.get(reverse("oidc_authentication_callback"), params)
