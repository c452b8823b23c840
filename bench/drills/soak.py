"""Soak: mixed browsing and ordering at a steady rate (DRILL_SOAK_SECONDS, 300 by default), zero
errors, worker memory flat: prints each worker's RSS at the start and the end.

Workers are started with --max-requests 0 so the same processes are measured start to end
(production recycles them every ~2,000 requests, which would hide a leak from this figure)."""

import collections
import os
import random
import threading
import time

import requests

from bench.drills.common import Context, Verdict
from bench.harness import Gunicorn, rss_kib
from bench.shopper import Paths, Shopper

BROWSE_RATE = float(os.environ.get("DRILL_SOAK_RATE", 20))  # page views per second, all threads together
ORDER_EVERY_S = float(os.environ.get("DRILL_SOAK_ORDER_EVERY", 2))
BROWSERS = 4
RSS_GROWTH_LIMIT = 0.05
RSS_LATE_GROWTH_LIMIT = 0.03


def _browse_paths(ctx: Context) -> list[str]:
    from catalog.models import Product

    slugs = list(Product.objects.order_by("?").values_list("slug", flat=True)[:200])
    from django.urls import reverse

    details = [reverse("catalog:product-detail", kwargs={"slug": s}) for s in slugs]
    fixed = [ctx.pages[k] for k in ("home", "product-list", "filtered-list", "search", "category")]
    return fixed + [f"{ctx.pages['product-list']}?page={n}" for n in range(2, 12)] + details


def run(ctx: Context) -> Verdict:
    verdict = Verdict("soak")
    seconds = float(os.environ.get("DRILL_SOAK_SECONDS", 300))
    paths = Paths.from_urlconf()
    browse = _browse_paths(ctx)
    stopping = threading.Event()
    lock = threading.Lock()
    statuses: collections.Counter = collections.Counter()
    errors: list[str] = []
    orders = collections.Counter()

    def browser(index: int) -> None:
        rng = random.Random(index)
        session, interval = requests.Session(), BROWSERS / BROWSE_RATE
        next_at = time.monotonic()
        shopper = Shopper(app.url, paths)
        while not stopping.is_set():
            try:
                if rng.random() < 0.1:
                    outcome = shopper.add_to_cart(rng.choice(ctx.variants))
                    status = outcome.status if outcome.ok else 500 + outcome.status
                else:
                    path = rng.choice(browse)
                    status = session.get(app.url + path, timeout=30, allow_redirects=False).status_code
            except requests.RequestException as exc:
                status = 0
                with lock:
                    errors.append(type(exc).__name__)
            with lock:
                statuses[status] += 1
            next_at += interval
            stopping.wait(max(0.0, next_at - time.monotonic()))  # steady rate, not a flood

    def orderer() -> None:
        rng = random.Random(99)
        next_at = time.monotonic()
        while not stopping.is_set():
            shopper = Shopper(app.url, paths, email=f"soak{orders.total()}@example.com")
            try:
                shopper.add_to_cart(rng.choice(ctx.variants))
                outcome = shopper.place_order()
                with lock:
                    orders["placed" if outcome.ok else "failed"] += 1
                    if not outcome.ok and len(errors) < 20:
                        errors.append(f"order {outcome.status} {outcome.detail[:80]}")
            except requests.RequestException as exc:
                with lock:
                    orders["failed"] += 1
                    errors.append(type(exc).__name__)
            next_at += ORDER_EVERY_S
            stopping.wait(max(0.0, next_at - time.monotonic()))

    with Gunicorn(ctx.work, name="soak", extra_args=("--max-requests", "0")) as app:
        # Warm the workers on every kind of request (pages, bag, checkout) and every page the soak
        # browses, twice, from several threads so both workers take most, before the first RSS
        # reading: what the fragment caches fill up with is their working set, not a leak.
        def warm(index: int) -> None:
            for path in (browse * 2)[index::4]:
                requests.get(app.url + path, timeout=30)
            shopper = Shopper(app.url, paths, email=f"warm{index}@example.com")
            shopper.add_to_cart(ctx.variants[index])
            shopper.get(paths.cart_detail)
            shopper.place_order()

        warmers = [threading.Thread(target=warm, args=(i,)) for i in range(4)]
        for thread in warmers:
            thread.start()
        for thread in warmers:
            thread.join(timeout=120)
        workers = app.worker_pids()
        start_rss = {pid: rss_kib(pid) for pid in workers}
        verdict.note(f"{seconds:.0f} s at {BROWSE_RATE:.0f} views/s + 1 order every {ORDER_EVERY_S:.0f} s")
        verdict.note(f"start RSS (KiB): {start_rss}")
        threads = [threading.Thread(target=browser, args=(i,)) for i in range(BROWSERS)]
        threads.append(threading.Thread(target=orderer))
        for thread in threads:
            thread.start()
        # The soak's duration, with an RSS reading of every worker at each tenth of it.
        samples = [(0.0, dict(start_rss))]
        started = time.monotonic()
        for tenth in range(1, 11):
            stopping.wait(max(0.0, started + seconds * tenth / 10 - time.monotonic()))
            samples.append((round(time.monotonic() - started, 1), {pid: rss_kib(pid) for pid in workers}))
        stopping.set()
        for thread in threads:
            thread.join(timeout=60)
        end_workers = app.worker_pids()
        end_rss = {pid: rss_kib(pid) for pid in end_workers}
    verdict.note(f"end RSS (KiB): {end_rss}")
    for at, rss in samples:
        verdict.note(f"  RSS at {at:>6.1f} s: {rss}")
    # Growth is judged from the first tenth of the run on: by then both workers have served every
    # kind of request, so what is left of start-up growth is not mistaken for a leak.
    baseline = samples[1][1]
    growth = {pid: (end_rss.get(pid, 0) - kib) / kib for pid, kib in baseline.items() if kib}
    # Flat means no climb once warm: compare the second half of the run only (caches fill early on).
    middle = samples[5][1]
    late_growth = {pid: (end_rss.get(pid, 0) - kib) / kib for pid, kib in middle.items() if kib}
    verdict.figures = {
        "seconds": seconds,
        "statuses": dict(statuses),
        "orders": dict(orders),
        "start_rss_kib": start_rss,
        "end_rss_kib": end_rss,
        "growth": {pid: round(g, 3) for pid, g in growth.items()},
        "growth_second_half": {pid: round(g, 3) for pid, g in late_growth.items()},
        "rss_samples": samples,
    }
    bad = {s: n for s, n in statuses.items() if not 200 <= s < 400}
    verdict.check(statuses.total() > 0, f"{statuses.total()} requests: {dict(statuses)}")
    verdict.check(not bad and not errors, f"errors: {bad or 0} {errors[:5]}")
    verdict.check(orders["placed"] > 0 and orders["failed"] == 0, f"orders: {dict(orders)}")
    verdict.check(end_workers == workers, f"same workers start to end: {workers} -> {end_workers}")
    verdict.check(
        all(g <= RSS_GROWTH_LIMIT for g in growth.values()),
        f"RSS growth per worker from {samples[1][0]:.0f} s to the end: { {p: f'{g:+.1%}' for p, g in growth.items()} }"
        f" (limit +{RSS_GROWTH_LIMIT:.0%})",
    )
    verdict.check(
        all(g <= RSS_LATE_GROWTH_LIMIT for g in late_growth.values()),
        f"RSS growth in the second half: { {p: f'{g:+.1%}' for p, g in late_growth.items()} }"
        f" (limit +{RSS_LATE_GROWTH_LIMIT:.0%})",
    )
    return verdict
