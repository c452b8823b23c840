"""The provider's JWKS is cached: sign-ins neither wait for nor depend on the JWKS endpoint, a rotated
key is picked up with exactly one refetch, and made-up key ids cannot cause a refetch storm.

The JWKS comes from a loopback HTTP server started here that counts its GETs; tokens are signed by the
test (token_server.py), so nothing of ours is mocked. Cache expiry is simulated by deleting the cache
entry (what the cache does when the time is up), so no test sleeps.
"""

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from jwt.algorithms import RSAAlgorithm

from accounts.auth import ShopOIDCBackend, SignInRefused, jwks_cache_key
from tests.accounts.conftest import callback, start_sign_in
from tests.accounts.test_oidc_tokens import assert_refused
from tests.accounts.token_server import KID, new_rsa_key

pytestmark = pytest.mark.django_db
User = get_user_model()
NONCE = "jwks-cache-nonce"


class JwksServer:
    """Serves a JWKS on 127.0.0.1 (free port) and counts the GETs it answers."""

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.fetches = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/jwks"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self._running = True

    def publish(self, *private_keys_by_kid: tuple[str, Any]) -> None:
        self.keys = [
            {**RSAAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": kid, "alg": "RS256", "use": "sig"}
            for kid, key in private_keys_by_kid
        ]

    def stop(self) -> None:
        """Take the endpoint down: the port then refuses connections."""
        if self._running:
            self._running = False
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format, *args):
                return

            def do_GET(self):
                with server._lock:
                    server.fetches += 1
                body = json.dumps({"keys": server.keys}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler


@pytest.fixture
def jwks(token_server, settings):
    """OIDC on (self-signed tokens), JWKS served by a counting server publishing the token server's key."""
    server = JwksServer()
    server.publish((KID, token_server.key))
    settings.OIDC_OP_JWKS_ENDPOINT = server.url
    settings.OIDC_JWKS_CACHE_SECONDS = 3600
    yield server
    server.stop()


def verify(token_server, **sign_options) -> dict:
    """One ID-token verification, as the callback does it (a new backend per sign-in)."""
    token = token_server.sign(token_server.claims(nonce=NONCE), **sign_options)
    return ShopOIDCBackend().verify_token(token, nonce=NONCE)


def refusal(token_server, **sign_options) -> str:
    with pytest.raises(SignInRefused) as refused:
        verify(token_server, **sign_options)
    return refused.value.reason


def test_two_sign_ins_fetch_the_jwks_once(client, token_server, jwks):
    for code in ("c1", "c2"):
        client.logout()
        state, nonce = start_sign_in(client)
        token_server.issue(token_server.claims(nonce=nonce))
        assert callback(client, code=code, state=state).status_code == 302
    assert User.objects.count() == 1
    assert jwks.fetches == 1
    # The token server's own JWKS endpoint was never asked: the key came from the counting server.
    assert "GET /jwks" not in token_server.requests


def test_an_expired_cache_entry_is_fetched_again(token_server, jwks):
    assert verify(token_server)["sub"] == "self-signed-sub-1"
    assert verify(token_server)["sub"] == "self-signed-sub-1"
    assert jwks.fetches == 1

    cache.delete(jwks_cache_key(jwks.url, "document"))  # what the cache does after OIDC_JWKS_CACHE_SECONDS
    verify(token_server)
    verify(token_server)
    assert jwks.fetches == 2


def test_zero_seconds_fetches_at_every_sign_in(token_server, jwks, settings):
    settings.OIDC_JWKS_CACHE_SECONDS = 0
    for _ in range(3):
        verify(token_server)
    assert jwks.fetches == 3
    assert cache.get(jwks_cache_key(jwks.url, "document")) is None


def test_a_rotated_key_is_picked_up_with_exactly_one_refetch(token_server, jwks):
    verify(token_server)
    assert jwks.fetches == 1

    rotated = new_rsa_key()
    jwks.publish((KID, token_server.key), ("rotated-key", rotated))
    assert verify(token_server, key=rotated, kid="rotated-key")["sub"] == "self-signed-sub-1"
    assert jwks.fetches == 2
    # The refreshed set is cached: both keys now verify without another fetch.
    verify(token_server, key=rotated, kid="rotated-key")
    verify(token_server)
    assert jwks.fetches == 2


def test_a_rotated_key_signs_in_through_the_callback(client, token_server, jwks):
    verify(token_server)  # warm cache holding only the old key
    rotated = new_rsa_key()
    jwks.publish(("rotated-key", rotated))
    state, nonce = start_sign_in(client)
    token_server.issue(token_server.claims(nonce=nonce), key=rotated, kid="rotated-key")
    assert callback(client, code="c1", state=state).status_code == 302
    assert User.objects.get().oidc_sub == "self-signed-sub-1"
    assert jwks.fetches == 2


def test_an_unknown_key_id_is_refused_after_one_refetch_and_does_not_storm(token_server, jwks):
    verify(token_server)
    stranger = new_rsa_key()
    assert refusal(token_server, key=stranger, kid="made-up") == "unknown_signing_key"
    assert jwks.fetches == 2
    # Within the interval, further unknown key ids are refused from the cache alone.
    for kid in ("made-up", "another-made-up", "third"):
        assert refusal(token_server, key=stranger, kid=kid) == "unknown_signing_key"
    assert jwks.fetches == 2
    # Known keys keep working meanwhile.
    verify(token_server)
    assert jwks.fetches == 2

    cache.delete(jwks_cache_key(jwks.url, "forced"))  # the interval is over
    assert refusal(token_server, key=stranger, kid="made-up") == "unknown_signing_key"
    assert jwks.fetches == 3


def test_an_unknown_key_id_on_a_cold_cache_fetches_once(token_server, jwks):
    """The first fetch is already fresh: no second one for the same token."""
    assert refusal(token_server, key=new_rsa_key(), kid="made-up") == "unknown_signing_key"
    assert jwks.fetches == 1


def test_a_rotation_right_after_a_bogus_key_id_waits_for_the_interval(token_server, jwks):
    """The documented trade-off of the storm rule: one forced refetch per interval, even for a real rotation."""
    verify(token_server)
    refusal(token_server, key=new_rsa_key(), kid="made-up")
    rotated = new_rsa_key()
    jwks.publish(("rotated-key", rotated))
    assert refusal(token_server, key=rotated, kid="rotated-key") == "unknown_signing_key"
    cache.delete(jwks_cache_key(jwks.url, "forced"))
    assert verify(token_server, key=rotated, kid="rotated-key")["sub"] == "self-signed-sub-1"
    assert jwks.fetches == 3


@pytest.mark.parametrize(("key", "algorithm"), [(None, "none"), ("self-signed-secret-for-tests", "HS256")])
def test_alg_none_and_hmac_are_refused_before_any_key_even_with_a_cold_cache(token_server, jwks, key, algorithm):
    assert refusal(token_server, key=key, algorithm=algorithm) == "algorithm_not_allowed"
    assert jwks.fetches == 0


def test_a_warm_cache_signs_in_while_the_jwks_endpoint_is_down(client, token_server, jwks):
    verify(token_server)
    jwks.stop()
    state, nonce = start_sign_in(client)
    token_server.issue(token_server.claims(nonce=nonce))
    assert callback(client, code="c1", state=state).status_code == 302
    assert User.objects.get().oidc_sub == "self-signed-sub-1"
    assert jwks.fetches == 1


def test_a_cold_cache_with_the_jwks_endpoint_down_shows_the_friendly_page(client, token_server, jwks, caplog):
    jwks.stop()
    state, nonce = start_sign_in(client)
    token_server.issue(token_server.claims(nonce=nonce))
    with caplog.at_level(logging.INFO):
        response = callback(client, code="c1", state=state)
    assert_refused(response, caplog, reason="provider_unreachable", status=503)
    assert cache.get(jwks_cache_key(jwks.url, "document")) is None


def test_a_broken_jwks_is_refused_and_not_cached(token_server, jwks):
    jwks.keys = ["not-a-key"]  # type: ignore[list-item]
    assert refusal(token_server) == "bad_jwks"
    assert cache.get(jwks_cache_key(jwks.url, "document")) is None
    jwks.publish((KID, token_server.key))
    verify(token_server)
    assert jwks.fetches == 2


def test_each_endpoint_has_its_own_cache_entry(token_server, jwks, settings):
    """Keys cached for one provider are never used for another configured later."""
    verify(token_server)
    other = JwksServer()
    try:
        other.publish(("other-provider-key", new_rsa_key()))
        settings.OIDC_OP_JWKS_ENDPOINT = other.url
        assert refusal(token_server) == "unknown_signing_key"
        assert other.fetches == 1
    finally:
        other.stop()
