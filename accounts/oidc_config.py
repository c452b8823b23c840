"""Sign-in settings derived from the environment (imported by jewelry_site/settings/base.py).

Amazon Cognito is configured with five variables; its endpoints follow from them. Any endpoint can be
overridden with a DJANGO_OIDC_* variable, which is also how a non-Cognito OpenID Connect provider
(the test provider, for one) is configured. Nothing set: OIDC is off and Django's login form is used.
A partial configuration stops start-up rather than silently falling back to passwords.

Kept free of Django imports other than the exception so settings can import it before apps load.
"""

from django.core.exceptions import ImproperlyConfigured

# Password sign-in: the django-axes lockout check first, then username-or-e-mail (accounts/backends.py).
LOCKOUT_BACKEND = "accounts.backends.PasswordLockoutBackend"
PASSWORD_BACKEND = "accounts.backends.EmailOrUsernameBackend"  # noqa: S105 - a class path

# Variables that switch OIDC on when any of them is set.
_TRIGGERS = (
    "DJANGO_COGNITO_REGION",
    "DJANGO_COGNITO_USER_POOL_ID",
    "DJANGO_COGNITO_CLIENT_ID",
    "DJANGO_COGNITO_CLIENT_SECRET",
    "DJANGO_COGNITO_DOMAIN",
    "DJANGO_OIDC_CLIENT_ID",
    "DJANGO_OIDC_CLIENT_SECRET",
    "DJANGO_OIDC_ISSUER",
    "DJANGO_OIDC_AUTHORIZATION_ENDPOINT",
    "DJANGO_OIDC_TOKEN_ENDPOINT",
    "DJANGO_OIDC_USERINFO_ENDPOINT",
    "DJANGO_OIDC_JWKS_ENDPOINT",
    "DJANGO_OIDC_END_SESSION_ENDPOINT",
)


def oidc_settings(env) -> dict:
    """Return the sign-in settings for a django-environ ``env`` (see the README's sign-in section)."""
    get = lambda name: env.str(name, default="").strip()  # noqa: E731
    local_login = env.bool("DJANGO_LOCAL_LOGIN_ENABLED", default=False)
    common = {
        "LOCAL_LOGIN_ENABLED": local_login,
        "OIDC_STAFF_GROUP": get("DJANGO_OIDC_STAFF_GROUP") or "staff",
        "OIDC_GROUPS_CLAIM": get("DJANGO_OIDC_GROUPS_CLAIM") or "cognito:groups",
    }
    if not any(get(name) for name in _TRIGGERS):
        return {**common, "OIDC_ENABLED": False, "AUTHENTICATION_BACKENDS": [LOCKOUT_BACKEND, PASSWORD_BACKEND]}

    region, pool = get("DJANGO_COGNITO_REGION"), get("DJANGO_COGNITO_USER_POOL_ID")
    domain = get("DJANGO_COGNITO_DOMAIN").removeprefix("https://").rstrip("/")
    cognito_issuer = f"https://cognito-idp.{region}.amazonaws.com/{pool}" if region and pool else ""
    hosted_ui = f"https://{domain}" if domain else ""

    def endpoint(override: str, cognito_default: str) -> str:
        return get(override) or cognito_default

    values = {
        "DJANGO_COGNITO_CLIENT_ID or DJANGO_OIDC_CLIENT_ID": get("DJANGO_OIDC_CLIENT_ID")
        or get("DJANGO_COGNITO_CLIENT_ID"),
        "DJANGO_COGNITO_CLIENT_SECRET or DJANGO_OIDC_CLIENT_SECRET": get("DJANGO_OIDC_CLIENT_SECRET")
        or get("DJANGO_COGNITO_CLIENT_SECRET"),
        "DJANGO_COGNITO_REGION + DJANGO_COGNITO_USER_POOL_ID or DJANGO_OIDC_ISSUER": endpoint(
            "DJANGO_OIDC_ISSUER", cognito_issuer
        ),
        "DJANGO_COGNITO_DOMAIN or DJANGO_OIDC_AUTHORIZATION_ENDPOINT": endpoint(
            "DJANGO_OIDC_AUTHORIZATION_ENDPOINT", hosted_ui and f"{hosted_ui}/oauth2/authorize"
        ),
        "DJANGO_COGNITO_DOMAIN or DJANGO_OIDC_TOKEN_ENDPOINT": endpoint(
            "DJANGO_OIDC_TOKEN_ENDPOINT", hosted_ui and f"{hosted_ui}/oauth2/token"
        ),
        "DJANGO_COGNITO_DOMAIN or DJANGO_OIDC_USERINFO_ENDPOINT": endpoint(
            "DJANGO_OIDC_USERINFO_ENDPOINT", hosted_ui and f"{hosted_ui}/oauth2/userInfo"
        ),
        "DJANGO_COGNITO_REGION + DJANGO_COGNITO_USER_POOL_ID or DJANGO_OIDC_JWKS_ENDPOINT": endpoint(
            "DJANGO_OIDC_JWKS_ENDPOINT", cognito_issuer and f"{cognito_issuer}/.well-known/jwks.json"
        ),
    }
    missing = [name for name, value in values.items() if not value]
    if missing:
        raise ImproperlyConfigured(
            "OpenID Connect sign-in is partly configured; also set: " + "; ".join(missing) + " (see README)."
        )
    client_id, client_secret, issuer, authorize, token, userinfo, jwks = values.values()

    end_session = get("DJANGO_OIDC_END_SESSION_ENDPOINT")
    logout_style = "oidc"
    if not end_session and hosted_ui:
        end_session, logout_style = f"{hosted_ui}/logout", "cognito"

    # The lockout check goes first so a locked-out password sign-in is refused before any hashing
    # (it passes provider sign-ins through untouched, and axes' system check wants it listed).
    backends = [LOCKOUT_BACKEND, "accounts.auth.ShopOIDCBackend"]
    if local_login:
        backends.append(PASSWORD_BACKEND)

    return {
        **common,
        "OIDC_ENABLED": True,
        "AUTHENTICATION_BACKENDS": backends,
        "OIDC_RP_CLIENT_ID": client_id,
        "OIDC_RP_CLIENT_SECRET": client_secret,
        "OIDC_OP_ISSUER": issuer,
        "OIDC_OP_AUTHORIZATION_ENDPOINT": authorize,
        "OIDC_OP_TOKEN_ENDPOINT": token,
        "OIDC_OP_USER_ENDPOINT": userinfo,
        "OIDC_OP_JWKS_ENDPOINT": jwks,
        "OIDC_OP_LOGOUT_ENDPOINT": end_session,
        "OIDC_LOGOUT_STYLE": logout_style,
        # Cognito marks ID tokens with token_use "id"; an access token must never pass as one.
        "OIDC_EXPECTED_TOKEN_USE": "id" if cognito_issuer and issuer == cognito_issuer else "",
        "OIDC_RP_SIGN_ALGO": "RS256",
        "OIDC_RP_SCOPES": "openid email profile",
        "OIDC_USE_PKCE": True,
        "OIDC_PKCE_CODE_CHALLENGE_METHOD": "S256",
        "OIDC_USE_NONCE": True,
        "OIDC_ALLOW_UNSECURED_JWT": False,
        "OIDC_VERIFY_KID": True,
        "OIDC_VERIFY_SSL": True,
        # Connect and read timeouts (seconds) for every call to the provider: a slow provider
        # must not tie up a gunicorn worker.
        "OIDC_TIMEOUT": env.float("DJANGO_OIDC_TIMEOUT", default=5.0),
        # Cognito wants the client secret in HTTP Basic auth at its token endpoint.
        "OIDC_TOKEN_USE_BASIC_AUTH": True,
        "OIDC_STORE_ACCESS_TOKEN": False,
        "OIDC_STORE_ID_TOKEN": False,
        "OIDC_CREATE_USER": True,
        # `next` may only point back at this site (its own host is always allowed).
        "OIDC_REDIRECT_ALLOWED_HOSTS": [],
        # Clock skew tolerated on exp/iat, in seconds.
        "OIDC_LEEWAY": 30,
    }
