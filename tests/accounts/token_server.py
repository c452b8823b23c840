"""A loopback stand-in for a provider's back channel (token, userinfo and JWKS endpoints) whose ID
tokens the test signs itself, so each negative case (wrong audience, alg none, ...) can be built
exactly. It is the far side of an HTTP connection, not a mock of our code: the backend fetches the
JWKS and exchanges the code over real sockets, as it does with Cognito."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

CLIENT_ID = "self-signed-client"
CLIENT_SECRET = "self-signed-secret-for-tests"
KID = "self-signed-key"


def new_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class TokenServer:
    def __init__(self) -> None:
        self.key = new_rsa_key()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.issuer = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.reset()

    def reset(self) -> None:
        self.id_token = ""
        self.userinfo: dict[str, Any] = {}
        self.token_status = 200
        self.requests: list[str] = []

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def env(self) -> dict[str, str]:
        return {
            "DJANGO_OIDC_CLIENT_ID": CLIENT_ID,
            "DJANGO_OIDC_CLIENT_SECRET": CLIENT_SECRET,
            "DJANGO_OIDC_ISSUER": self.issuer,
            "DJANGO_OIDC_AUTHORIZATION_ENDPOINT": f"{self.issuer}/authorize",
            "DJANGO_OIDC_TOKEN_ENDPOINT": f"{self.issuer}/token",
            "DJANGO_OIDC_USERINFO_ENDPOINT": f"{self.issuer}/userinfo",
            "DJANGO_OIDC_JWKS_ENDPOINT": f"{self.issuer}/jwks",
            "DJANGO_OIDC_END_SESSION_ENDPOINT": f"{self.issuer}/logout",
        }

    def claims(self, *, nonce: str, sub: str = "self-signed-sub-1", **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": CLIENT_ID,
            "sub": sub,
            "iat": now,
            "exp": now + 300,
            "nonce": nonce,
            "email": "signer@example.com",
            "email_verified": True,
            "given_name": "Sig",
            "family_name": "Ner",
            "cognito:groups": [],
            "token_use": "id",
        }
        claims.update(overrides)
        return {name: value for name, value in claims.items() if value is not None}

    def sign(
        self, claims: dict[str, Any], *, key: Any = "default", kid: str | None = KID, algorithm: str = "RS256"
    ) -> str:
        """Sign with the server's own key unless ``key`` says otherwise (None for alg "none")."""
        headers = {"kid": kid} if kid else {}
        return jwt.encode(claims, self.key if key == "default" else key, algorithm=algorithm, headers=headers)

    def issue(self, claims: dict[str, Any], **sign_options: Any) -> str:
        """Make the next code exchange return these claims, signed; userinfo agrees on the subject."""
        self.id_token = self.sign(claims, **sign_options)
        self.userinfo = {"sub": claims.get("sub"), "email": claims.get("email")}
        return self.id_token

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format, *args):
                return

            def _json(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                server.requests.append(f"GET {self.path}")
                if self.path == "/jwks":
                    jwk = RSAAlgorithm.to_jwk(server.key.public_key(), as_dict=True)
                    self._json(200, {"keys": [{**jwk, "kid": KID, "alg": "RS256", "use": "sig"}]})
                elif self.path == "/userinfo":
                    self._json(200, server.userinfo)
                else:
                    self._json(404, {"error": "not_found"})

            def do_POST(self):
                server.requests.append(f"POST {self.path}")
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path != "/token":
                    self._json(404, {"error": "not_found"})
                elif server.token_status != 200:
                    self._json(server.token_status, {"error": "invalid_grant"})
                else:
                    body = {"id_token": server.id_token, "access_token": "self-signed-access", "token_type": "Bearer"}
                    self._json(200, body)

        return Handler
