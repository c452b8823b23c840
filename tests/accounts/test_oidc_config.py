"""Deriving the sign-in settings from the environment (accounts/oidc_config.py)."""

import environ
import pytest
from django.core.exceptions import ImproperlyConfigured

from accounts.oidc_config import _TRIGGERS, oidc_settings
from tests.accounts.conftest import COGNITO


@pytest.fixture
def derive(monkeypatch):
    def run(env: dict[str, str]) -> dict:
        for name in (*_TRIGGERS, "DJANGO_LOCAL_LOGIN_ENABLED", "DJANGO_OIDC_TIMEOUT", "DJANGO_OIDC_STAFF_GROUP"):
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return oidc_settings(environ.Env())

    return run


def test_nothing_set_means_oidc_off(derive):
    values = derive({})
    assert values["OIDC_ENABLED"] is False
    assert values["AUTHENTICATION_BACKENDS"] == [
        "accounts.backends.PasswordLockoutBackend",
        "accounts.backends.EmailOrUsernameBackend",
    ]
    assert not any(name.startswith("OIDC_OP_") for name in values)


def test_cognito_endpoints_are_derived(derive):
    values = derive(COGNITO)
    issuer = "https://cognito-idp.eu-west-2.amazonaws.com/eu-west-2_AbCdEf123"
    hosted = "https://maison-aurelia.auth.eu-west-2.amazoncognito.com"
    assert values["OIDC_ENABLED"] is True
    assert values["OIDC_OP_ISSUER"] == issuer
    assert values["OIDC_OP_JWKS_ENDPOINT"] == f"{issuer}/.well-known/jwks.json"
    assert values["OIDC_OP_AUTHORIZATION_ENDPOINT"] == f"{hosted}/oauth2/authorize"
    assert values["OIDC_OP_TOKEN_ENDPOINT"] == f"{hosted}/oauth2/token"
    assert values["OIDC_OP_USER_ENDPOINT"] == f"{hosted}/oauth2/userInfo"
    assert values["OIDC_OP_LOGOUT_ENDPOINT"] == f"{hosted}/logout"
    assert values["OIDC_LOGOUT_STYLE"] == "cognito"
    assert values["OIDC_EXPECTED_TOKEN_USE"] == "id"
    assert values["OIDC_RP_CLIENT_ID"] == "1example23456789"
    assert values["AUTHENTICATION_BACKENDS"] == [
        "accounts.backends.PasswordLockoutBackend",
        "accounts.auth.ShopOIDCBackend",
    ]
    assert (values["OIDC_USE_PKCE"], values["OIDC_USE_NONCE"], values["OIDC_RP_SIGN_ALGO"]) == (True, True, "RS256")
    assert 0 < values["OIDC_TIMEOUT"] <= 10


def test_domain_may_be_given_as_a_url_and_timeout_tuned(derive):
    values = derive({**COGNITO, "DJANGO_COGNITO_DOMAIN": "https://login.example.com/", "DJANGO_OIDC_TIMEOUT": "2.5"})
    assert values["OIDC_OP_AUTHORIZATION_ENDPOINT"] == "https://login.example.com/oauth2/authorize"
    assert values["OIDC_TIMEOUT"] == 2.5


def test_local_login_keeps_the_password_backend(derive):
    values = derive({**COGNITO, "DJANGO_LOCAL_LOGIN_ENABLED": "true"})
    assert values["LOCAL_LOGIN_ENABLED"] is True
    assert values["AUTHENTICATION_BACKENDS"] == [
        "accounts.backends.PasswordLockoutBackend",
        "accounts.auth.ShopOIDCBackend",
        "accounts.backends.EmailOrUsernameBackend",
    ]


def test_an_override_wins_and_a_generic_issuer_drops_token_use(derive):
    values = derive(
        {
            **COGNITO,
            "DJANGO_OIDC_ISSUER": "https://id.example.com",
            "DJANGO_OIDC_END_SESSION_ENDPOINT": "https://id.example.com/end",
        }
    )
    assert values["OIDC_OP_ISSUER"] == "https://id.example.com"
    assert values["OIDC_EXPECTED_TOKEN_USE"] == ""
    assert (values["OIDC_OP_LOGOUT_ENDPOINT"], values["OIDC_LOGOUT_STYLE"]) == ("https://id.example.com/end", "oidc")


@pytest.mark.parametrize("missing", ["DJANGO_COGNITO_DOMAIN", "DJANGO_COGNITO_CLIENT_SECRET", "DJANGO_COGNITO_REGION"])
def test_a_partial_configuration_stops_start_up(derive, missing):
    env = {name: value for name, value in COGNITO.items() if name != missing}
    with pytest.raises(ImproperlyConfigured, match=missing):
        derive(env)
