"""OpenID Connect sign-in (Amazon Cognito in production) on top of mozilla-django-oidc.

The library's defaults are not enough for us: it matches users by e-mail, skips the audience check
and trusts whatever algorithm the token names. This backend verifies the ID token itself (RS256 with
the provider's JWKS only; issuer, audience, expiry, nonce, and Cognito's ``token_use``), matches users
by the provider's ``sub`` and hands the verified claims to ``accounts.services.user_sync_from_oidc``.

Every refusal raises ``SignInRefused`` with a short reason; the callback view turns it into a friendly
page and a ``shop.security`` log event. Tokens never reach a log line or an exception message.

The provider's JWKS is kept in Django's default cache for ``OIDC_JWKS_CACHE_SECONDS`` (0: fetched at
every sign-in), so a sign-in neither waits for nor depends on the JWKS endpoint. A token whose ``kid``
is not in the cached set forces one refetch (the provider rotated its keys) before it is refused; such
forced refetches happen at most once per ``JWKS_FORCED_REFETCH_INTERVAL`` seconds across all workers
sharing the cache, so a stream of tokens with made-up key ids cannot turn into a stream of fetches.
"""

import hashlib

import jwt
import requests
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import SuspiciousOperation
from django.utils.encoding import smart_str
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from .services import staff_without_second_factor, user_sync_from_oidc

# The only signature we accept. "none" and HMAC (which would let the client secret forge
# tokens) are refused before any key is looked at.
ALLOWED_ALGORITHMS = ("RS256",)
REQUIRED_CLAIMS = ("iss", "aud", "exp", "iat", "sub")
# Short enough that a genuine rotation arriving just after a bogus key id is picked up within a minute.
JWKS_FORCED_REFETCH_INTERVAL = 60


class SignInRefused(Exception):  # noqa: N818 - a refusal, not a programming error
    """The provider's answer failed a check; ``reason`` is a short code safe to log."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


_JWT_REASONS = (
    (jwt.ExpiredSignatureError, "token_expired"),
    (jwt.InvalidAudienceError, "wrong_audience"),
    (jwt.InvalidIssuerError, "wrong_issuer"),
    (jwt.ImmatureSignatureError, "token_not_yet_valid"),
    (jwt.MissingRequiredClaimError, "missing_claim"),
    (jwt.InvalidSignatureError, "bad_signature"),
)


class ShopOIDCBackend(OIDCAuthenticationBackend):
    """Authorization-code sign-in; users are found by ``sub`` and never by e-mail."""

    def authenticate(self, request, **kwargs):
        """Only our callback's call (with the session's nonce) is a provider sign-in.

        The library would act on any ``authenticate()`` whose request carries ``code`` and ``state``,
        a password form POST included, and exchange a code nobody started here.
        """
        if "nonce" not in kwargs or "password" in kwargs:
            return None
        return super().authenticate(request, **kwargs)

    def verify_token(self, token, **kwargs):
        """Check the ID token's signature and claims; return its payload or raise ``SignInRefused``."""
        if not isinstance(token, str) or not token:
            raise SignInRefused("no_id_token")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise SignInRefused("malformed_token") from exc
        if header.get("alg") not in ALLOWED_ALGORITHMS:
            raise SignInRefused("algorithm_not_allowed")
        if not header.get("kid"):
            raise SignInRefused("no_key_id")
        try:
            key = self.retrieve_matching_jwk(token)
        except SuspiciousOperation as exc:
            raise SignInRefused("unknown_signing_key") from exc
        except (jwt.PyJWKError, KeyError, ValueError) as exc:
            raise SignInRefused("bad_jwks") from exc

        client_id = self.OIDC_RP_CLIENT_ID
        try:
            payload = jwt.decode(
                token,
                key,
                algorithms=list(ALLOWED_ALGORITHMS),
                audience=client_id,
                issuer=settings.OIDC_OP_ISSUER,
                leeway=getattr(settings, "OIDC_LEEWAY", 30),
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.InvalidTokenError as exc:
            reason = next((code for kind, code in _JWT_REASONS if isinstance(exc, kind)), "invalid_token")
            raise SignInRefused(reason) from exc

        # With several audiences, the token must say it was issued to us (OIDC Core 3.1.3.7).
        if isinstance(payload["aud"], list) and len(payload["aud"]) > 1 and payload.get("azp") != client_id:
            raise SignInRefused("wrong_authorized_party")
        expected_use = getattr(settings, "OIDC_EXPECTED_TOKEN_USE", "")
        if expected_use and payload.get("token_use") != expected_use:
            raise SignInRefused("wrong_token_use")
        # Nonce is checked always, not only when the library's setting says so.
        nonce = kwargs.get("nonce")
        if not nonce or payload.get("nonce") != nonce:
            raise SignInRefused("bad_nonce")
        return payload

    def retrieve_matching_jwk(self, token):
        """The provider's key for this token: from the cached JWKS, else after one refetch (key rotation).

        Matching is the library's (same ``kid``; same ``alg`` when the key names one); a JWKS that is not
        ``{"keys": [...]}`` or has a key without ``kid`` raises ``KeyError``/``ValueError`` as before.
        """
        header = jwt.get_unverified_header(token)
        jwks, fresh = self._jwks(force=False)
        key = _matching_jwk(jwks, header)
        if key is None and not fresh and self._may_force_jwks_refetch():
            jwks, _fresh = self._jwks(force=True)
            key = _matching_jwk(jwks, header)
        if key is None:
            raise SuspiciousOperation("Could not find a valid JWKS.")
        return jwt.PyJWK(key)

    def _may_force_jwks_refetch(self) -> bool:
        """True at most once per interval: ``cache.add`` only succeeds while the marker is absent."""
        marker = jwks_cache_key(self.OIDC_OP_JWKS_ENDPOINT, "forced")
        return cache.add(marker, True, JWKS_FORCED_REFETCH_INTERVAL)

    def _jwks(self, *, force: bool) -> tuple[dict, bool]:
        """The JWKS document and whether it was fetched just now; fetched when ``force`` or not cached."""
        seconds = max(0, int(getattr(settings, "OIDC_JWKS_CACHE_SECONDS", 0)))
        key = jwks_cache_key(self.OIDC_OP_JWKS_ENDPOINT, "document")
        if seconds and not force:
            cached = cache.get(key)
            if cached is not None:
                return cached, False
        response = requests.get(
            self.OIDC_OP_JWKS_ENDPOINT,
            verify=self.get_settings("OIDC_VERIFY_SSL", True),
            timeout=self.get_settings("OIDC_TIMEOUT", None),
            proxies=self.get_settings("OIDC_PROXY", None),
        )
        response.raise_for_status()
        jwks = response.json()
        keys = jwks.get("keys") if isinstance(jwks, dict) else None
        if not isinstance(keys, list) or not all(isinstance(jwk, dict) for jwk in keys):
            raise ValueError("The JWKS is not a key set.")
        # Only a well-formed set is cached; a broken answer is retried at the next sign-in.
        if seconds:
            cache.set(key, jwks, seconds)
        return jwks, True

    def get_token(self, payload):
        try:
            return super().get_token(payload)
        except requests.HTTPError:
            # The library's message embeds the provider's response body; keep it out of logs.
            raise SignInRefused("token_exchange_refused") from None

    def get_userinfo(self, access_token, id_token, payload):
        """Claims for the user: the provider's userinfo, overlaid by the verified ID token.

        Cognito puts ``cognito:groups`` only in the ID token, so the token wins; userinfo that
        describes someone else (a different ``sub``) is refused outright (OIDC Core 5.3.2).
        """
        response = requests.get(
            self.OIDC_OP_USER_ENDPOINT,
            headers={"Authorization": f"Bearer {access_token}"},
            verify=self.get_settings("OIDC_VERIFY_SSL", True),
            timeout=self.get_settings("OIDC_TIMEOUT", None),
            proxies=self.get_settings("OIDC_PROXY", None),
        )
        if response.status_code != 200:
            raise SignInRefused("userinfo_refused")
        try:
            userinfo = response.json()
        except ValueError as exc:
            raise SignInRefused("userinfo_not_json") from exc
        if not isinstance(userinfo, dict) or userinfo.get("sub") != payload.get("sub"):
            raise SignInRefused("userinfo_subject_mismatch")
        return {**userinfo, **payload}

    def verify_claims(self, claims):
        sub = claims.get("sub")
        return isinstance(sub, str) and 0 < len(sub) <= 255

    def get_or_create_user(self, access_token, id_token, payload):
        claims = self.get_userinfo(access_token, id_token, payload)
        if not self.verify_claims(claims):
            raise SignInRefused("bad_subject")
        # Cognito's MFA is per pool (OPTIONAL, so shoppers are not forced): staff must show it here.
        if settings.OIDC_STAFF_REQUIRE_MFA and staff_without_second_factor(
            claims=claims, staff_group=settings.OIDC_STAFF_GROUP, groups_claim=settings.OIDC_GROUPS_CLAIM
        ):
            raise SignInRefused("staff_without_mfa")
        return user_sync_from_oidc(
            claims=claims,
            staff_group=settings.OIDC_STAFF_GROUP,
            groups_claim=settings.OIDC_GROUPS_CLAIM,
        )

    def filter_users_by_claims(self, claims):
        """Never by e-mail (the library's default): an address can change hands."""
        sub = claims.get("sub")
        if not sub:
            return self.UserModel.objects.none()
        return self.UserModel.objects.filter(oidc_sub=sub)


def jwks_cache_key(endpoint: str, part: str) -> str:
    """Cache key for the JWKS of ``endpoint`` (another endpoint never gets these keys)."""
    return f"accounts:oidc-jwks:{part}:{hashlib.sha256(endpoint.encode()).hexdigest()[:32]}"


def _matching_jwk(jwks: dict, header: dict) -> dict | None:
    """The library's rule: the last key with the token's ``kid`` and, if the key names one, its ``alg``."""
    found = None
    for jwk in jwks["keys"]:
        if jwk["kid"] != smart_str(header["kid"]):
            continue
        if "alg" in jwk and jwk["alg"] != smart_str(header["alg"]):
            continue
        found = jwk
    return found
