"""The "order-place-card" row (issue #11): guest checkouts paid by card, against localstripe on loopback.

Timed per order: the placing POST plus the charge POST, i.e. everything our server does for a card
order, the PaymentIntent create-and-confirm call to the (fake) Stripe server included. Not timed: the
browser's own step in Stripe's script (the SetupIntent confirmation), done here as localstripe's
script would. localstripe answers far faster than Stripe's API, so production adds Stripe's latency.
"""

import json
import re
import time
from collections.abc import Callable
from urllib.parse import urlparse

from bench.harness import fill_form
from bench.loops import checkouts_threaded

SETUP_SECRET = re.compile(r'data-setup-secret="([^"]+)"')


def _card_order(shopper, localstripe) -> tuple[bool, float, str]:
    form, page = shopper.checkout_form()
    if form is None:
        return False, 0.0, f"no checkout form (GET {page.status_code})"
    data = {**fill_form(form, email=shopper.email), "payment_method": "card"}
    start = time.perf_counter()
    placed = shopper.post(form["action"] or shopper.paths.checkout, data)
    placing = time.perf_counter() - start
    pay_path = urlparse(placed.headers.get("Location", "")).path
    if "/checkout/pay/" not in pay_path:
        return False, placing, f"{placed.status_code} {pay_path or placed.text[:100]}"
    secret = SETUP_SECRET.search(shopper.get(pay_path).text)
    if not secret:
        return False, placing, "no card form on the payment page"
    payment_method = localstripe.card_setup(setup_secret=secret[1])
    start = time.perf_counter()
    charged = shopper.session.post(
        shopper.base + pay_path + "charge/",
        data=json.dumps({"payment_method": payment_method}),
        headers={"X-CSRFToken": shopper.token, "Content-Type": "application/json", "Referer": shopper.base + pay_path},
        timeout=30,
    )
    seconds = placing + time.perf_counter() - start
    ok = charged.status_code == 200 and charged.json().get("status") == "succeeded"
    return ok, seconds, "" if ok else f"charge {charged.status_code} {charged.text[:100]}"


def card_orders(s) -> Callable[[float, int], dict]:
    """Card checkouts from ``s.connections`` threads per slice, bounded by count and time."""
    return checkouts_threaded(
        s, what="card checkouts", email="card", stride=11, place=lambda shopper: _card_order(shopper, s.localstripe)
    )
