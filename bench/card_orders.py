"""The "order-place-card" row (issue #11): guest checkouts paid by card, against localstripe on loopback.

Timed per order: the placing POST plus the charge POST, i.e. everything our server does for a card
order, the PaymentIntent create-and-confirm call to the (fake) Stripe server included. Not timed: the
browser's own step in Stripe's script (the SetupIntent confirmation), done here as localstripe's
script would. localstripe answers far faster than Stripe's API, so production adds Stripe's latency.
"""

import json
import re
import statistics
import threading
import time
from collections.abc import Callable
from urllib.parse import urlparse

from bench.harness import fill_form, log

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
    from bench.shopper import Paths, Shopper

    paths = Paths.from_urlconf()
    per_slice = max(1, s.max_orders // s.slices)

    def run(seconds: float, index: int) -> dict:
        deadline = time.monotonic() + seconds
        lock = threading.Lock()
        latencies: list[float] = []
        failures: list[str] = []
        attempts = [0]

        def worker(thread: int) -> None:
            while time.monotonic() < deadline:
                with lock:
                    if attempts[0] >= per_slice:
                        return
                    attempts[0] += 1
                    number = attempts[0]
                shopper = Shopper(s.app.url, paths, email=f"card{index}-{number}@example.com")
                shopper.add_to_cart(s.variants[(number * 11 + thread + index * 131) % len(s.variants)])
                ok, took, detail = _card_order(shopper, s.localstripe)
                with lock:
                    (latencies.append(took) if ok else failures.append(detail))

        log(f"  card checkouts from {s.connections} threads for {seconds:.0f} s (at most {per_slice})")
        start = time.monotonic()
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(s.connections)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=seconds + 60)
        elapsed = time.monotonic() - start
        ordered = sorted(latencies)

        def pct(p: float) -> float:
            return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1e6 if ordered else 0.0

        return {
            "requests": len(latencies) + len(failures),
            "orders": len(latencies),
            "rps": len(latencies) / elapsed if elapsed else 0.0,
            "duration_us": elapsed * 1e6,
            "latency_us": {
                "p50": pct(0.5),
                "p90": pct(0.9),
                "p99": pct(0.99),
                "mean": statistics.fmean(ordered) * 1e6 if ordered else 0.0,
            },
            "status": {"failed": len(failures)},
            "failures_sample": failures[:5],
            "socket_errors": 0,
        }

    return run
