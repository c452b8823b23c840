"""localstripe (a stateful fake Stripe server, PyPI) on loopback, for the tests and the benchmark.

``localstripe_running()`` starts it on a free port (``loopback.localstripe_server``: 127.0.0.1 only,
state in memory) and stops it by PID; ``LocalStripe`` knows its URLs, registers webhooks, lists its
events, and does the browser's part of a card payment as localstripe's Elements script would.
"""

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from loopback import HOST, free_port, port_open, stop, wait_until

REPO = Path(__file__).resolve().parents[1]
# Test-only values: localstripe accepts any sk_/pk_ key; the tests sign events with this secret.
WEBHOOK_SECRET = "whsec_test_only_localstripe"  # noqa: S105 (test-only)
SECRET_KEY = "sk_test_localstripe"  # noqa: S105 (test-only)
PUBLISHABLE_KEY = "pk_test_localstripe"
GOOD_CARD = "4242424242424242"


@dataclass(frozen=True)
class LocalStripe:
    url: str

    @property
    def js_url(self) -> str:
        return f"{self.url}/js.stripe.com/v3/"

    def env(self) -> dict[str, str]:
        """DJANGO_* variables that switch a shop process's card payments on against this server."""
        return {
            "DJANGO_STRIPE_ENABLED": "1",
            "DJANGO_STRIPE_SECRET_KEY": SECRET_KEY,
            "DJANGO_STRIPE_PUBLISHABLE_KEY": PUBLISHABLE_KEY,
            "DJANGO_STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "DJANGO_STRIPE_API_BASE": self.url,
            "DJANGO_STRIPE_JS_URL": self.js_url,
            "DJANGO_STRIPE_MAX_NETWORK_RETRIES": "0",
        }

    def register_webhook(self, *, name: str, url: str, secret: str = WEBHOOK_SECRET, events=None) -> None:
        body = {"url": url, "secret": secret, **({"events": events} if events is not None else {})}
        requests.post(f"{self.url}/_config/webhooks/{name}", json=body, timeout=10).raise_for_status()

    def events(self, *, type: str, pages: int = 20) -> list[dict]:
        """Events of this type localstripe recorded, as Stripe would deliver them (all pages, bounded)."""
        found, after = [], None
        for _ in range(pages):
            params = {"limit": 100, **({"starting_after": after} if after else {})}
            response = requests.get(f"{self.url}/v1/events", params=params, auth=(SECRET_KEY, ""), timeout=10)
            response.raise_for_status()
            page = response.json()
            found += [event for event in page["data"] if event["type"] == type]
            if not page.get("has_more") or not page["data"]:
                return found
            after = page["data"][-1]["id"]
        raise AssertionError(f"more than {pages} pages of localstripe events")

    def card_setup(self, *, setup_secret: str, number: str = GOOD_CARD, authenticate: bool = True) -> str:
        """Confirm a SetupIntent with a card as localstripe's Elements script does; returns the PaymentMethod."""
        seti = setup_secret.split("_secret_")[0]
        url = f"{self.url}/v1/setup_intents/{seti}/confirm"
        card = {"number": number, "exp_month": "12", "exp_year": "2034", "cvc": "123"}
        body = {"key": PUBLISHABLE_KEY, "use_stripe_sdk": True, "client_secret": setup_secret}
        data = json.dumps({**body, "payment_method_data": {"type": "card", "card": card}})
        answer = requests.post(url, data=data, timeout=10)
        answer.raise_for_status()
        if answer.json()["status"] == "requires_action" and authenticate:
            answer = requests.post(url, data=json.dumps(body), timeout=10)
            answer.raise_for_status()
        return answer.json()["payment_method"]


@contextmanager
def localstripe_running() -> Iterator[LocalStripe]:
    """localstripe on a free loopback port; a missing package fails loudly (its import error in the message)."""
    port = free_port()
    process = subprocess.Popen(  # noqa: S603 (our own module, fixed arguments)
        [sys.executable, "-m", "loopback.localstripe_server", str(port)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        try:
            wait_until(port_open(port), timeout=30, what="localstripe", process=process)
        except RuntimeError as error:
            detail = process.stderr.read().decode()[-2000:] if process.poll() is not None else ""
            raise RuntimeError(f"{error} {detail}") from None
        yield LocalStripe(url=f"http://{HOST}:{port}")
    finally:
        stop(process)
