"""Crash mid-checkout: kill -9 the worker while it is inside order placement (held there by the
bench-only hook in bench/hooks.py); no partial order, stock unchanged, the row lock released."""

import os
import signal
import threading
from pathlib import Path

import requests

from bench.drills.common import Context, Verdict, order_row_counts, variant_stock
from bench.harness import Gunicorn
from bench.hooks import HEADER
from bench.shopper import Paths, Shopper
from loopback import wait_until


def run(ctx: Context) -> Verdict:
    verdict = Verdict("crash-mid-checkout")
    marker = ctx.work / "checkout-pause.json"
    marker.unlink(missing_ok=True)
    env = {"BENCH_CHECKOUT_PAUSE": "1", "BENCH_PAUSE_MARKER": str(marker)}
    paths = Paths.from_urlconf()
    variant = ctx.variants[-1]
    with Gunicorn(ctx.work, name="crash", extra_env=env) as app:
        shopper = Shopper(app.url, paths, email="crash.drill@example.com")
        verdict.check(shopper.add_to_cart(variant).ok, f"variant {variant} in the bag")
        stock_before, rows_before = variant_stock(variant), order_row_counts()
        verdict.note(f"before: stock {stock_before}, order rows {rows_before}")
        outcome: dict = {}

        def place() -> None:
            try:
                outcome["result"] = shopper.place_order(headers={HEADER: "checkout"})
            except requests.RequestException as exc:
                outcome["error"] = type(exc).__name__

        client = threading.Thread(target=place)
        client.start()
        try:
            wait_until(marker.exists, timeout=30, what="the worker to reach the middle of order placement")
        except RuntimeError as exc:
            verdict.check(False, str(exc))
            client.join(timeout=60)
            return verdict
        held = _read(marker)
        workers = app.worker_pids()
        verdict.check(held["pid"] in workers, f"worker {held['pid']} held inside the transaction after {held['seen']}")
        os.kill(held["pid"], signal.SIGKILL)
        verdict.note(f"kill -9 {held['pid']}")
        client.join(timeout=60)
        verdict.note(f"shopper's request ended with {outcome.get('error') or outcome.get('result')}")
        wait_until(lambda: len(set(app.worker_pids()) - {held["pid"]}) == 2, timeout=30, what="a replacement worker")
        verdict.note(f"workers now {app.worker_pids()}")
        stock_after, rows_after = variant_stock(variant), order_row_counts()
        verdict.check(rows_after == rows_before, f"order rows after: {rows_after}")
        verdict.check(stock_after == stock_before, f"stock after: {stock_after} (before {stock_before})")
        # The killed transaction's row locks must be gone: the same shopper can now order the same piece.
        retry = shopper.place_order()
        verdict.check(retry.ok, f"the same bag then checks out normally: {retry.status} {retry.detail[:80]}")
        verdict.check(variant_stock(variant) == stock_before - 1, "stock went down by exactly one after that order")
    return verdict


def _read(marker: Path) -> dict:
    import json

    return json.loads(marker.read_text())
