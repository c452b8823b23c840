"""The test OpenID Connect provider (server.js, npm `oidc-provider`) as a session fixture.

One Node process per test session on a free loopback port, stopped by its PID afterwards. Its one
confidential client accepts the Django test client's callback (http://testserver/oidc/callback/) and
the live server's used by the browser tests (port reserved here, see ``e2e_app_port``).
"""

import json
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin

import pytest
import requests

from tests.servers import free_port, stop, wait_until

HERE = Path(__file__).resolve().parent
NODE = "/usr/bin/node"
USERS = json.loads((HERE / "users.json").read_text())
TEST_CLIENT_ORIGIN = "http://testserver"


@dataclass
class LoopbackProvider:
    issuer: str
    client_id: str
    client_secret: str
    e2e_app_port: int
    users: dict[str, dict] = field(default_factory=dict)

    @property
    def e2e_app_origin(self) -> str:
        return f"http://127.0.0.1:{self.e2e_app_port}"

    def env(self) -> dict[str, str]:
        """The DJANGO_OIDC_* variables that point the shop at this provider (generic, non-Cognito mode)."""
        return {
            "DJANGO_OIDC_CLIENT_ID": self.client_id,
            "DJANGO_OIDC_CLIENT_SECRET": self.client_secret,
            "DJANGO_OIDC_ISSUER": self.issuer,
            "DJANGO_OIDC_AUTHORIZATION_ENDPOINT": f"{self.issuer}/auth",
            "DJANGO_OIDC_TOKEN_ENDPOINT": f"{self.issuer}/token",
            "DJANGO_OIDC_USERINFO_ENDPOINT": f"{self.issuer}/me",
            "DJANGO_OIDC_JWKS_ENDPOINT": f"{self.issuer}/jwks",
            "DJANGO_OIDC_END_SESSION_ENDPOINT": f"{self.issuer}/session/end",
        }

    def user(self, username: str) -> dict:
        return self.users[username]

    def set_claims(self, sub: str, **claims) -> None:
        """Change a provider account's claims (e.g. its groups) for the following sign-ins."""
        response = requests.put(f"{self.issuer}/__test__/accounts/{sub}", json=claims, timeout=5)
        response.raise_for_status()

    def sign_in(self, browser: requests.Session, authorize_url: str, *, username: str, password: str) -> str:
        """Play the person at the provider: follow the authorize URL, fill in the sign-in form.

        Returns the URL the provider sends the browser back to (our callback, with code and state).
        ``browser`` keeps the provider's cookies, so a second sign-in may skip the form (SSO session).
        """
        url = authorize_url
        for _ in range(10):
            if not url.startswith(self.issuer):
                return url
            response = browser.get(url, allow_redirects=False, timeout=5)
            if response.status_code == 200 and 'name="password"' in response.text:
                action = re.search(r'action="([^"]+)"', response.text).group(1)
                response = browser.post(
                    urljoin(self.issuer, action),
                    data={"username": username, "password": password},
                    allow_redirects=False,
                    timeout=5,
                )
            if response.status_code not in (302, 303):
                raise AssertionError(f"provider answered {response.status_code}: {response.text[:300]}")
            url = urljoin(self.issuer, response.headers["Location"])
        raise AssertionError("the provider redirected too many times")


@pytest.fixture(scope="session")
def oidc_provider():
    """Start the real OIDC provider once per session; yields a LoopbackProvider."""
    if not (HERE / "node_modules" / "oidc-provider").is_dir():
        pytest.fail("tests/oidc_provider/node_modules is missing: run `make install-test` (npm ci).")
    port, app_port = free_port(), free_port()
    provider = LoopbackProvider(
        issuer=f"http://127.0.0.1:{port}",
        client_id="maison-aurelia-test",
        client_secret="test-client-secret-for-loopback-only",
        e2e_app_port=app_port,
        users={user["username"]: user for user in USERS},
    )
    origins = (TEST_CLIENT_ORIGIN, provider.e2e_app_origin)
    config = {
        "port": port,
        "client_id": provider.client_id,
        "client_secret": provider.client_secret,
        "redirect_uris": [f"{origin}/oidc/callback/" for origin in origins],
        "post_logout_redirect_uris": [f"{origin}/" for origin in origins],
    }
    process = subprocess.Popen(
        [NODE, str(HERE / "server.js")],
        cwd=HERE,
        env={"PATH": "/usr/bin:/bin", "TEST_OIDC_CONFIG": json.dumps(config), "NODE_ENV": "test"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(_discovery_ready(provider.issuer), timeout=30, what="test OIDC provider", process=process)
        yield provider
    finally:
        stop(process)


def _discovery_ready(issuer: str):
    def check() -> bool:
        try:
            return requests.get(f"{issuer}/.well-known/openid-configuration", timeout=1).status_code == 200
        except requests.ConnectionError:
            return False

    return check
