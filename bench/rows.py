"""The benchmark's rows: what each line of the table measures, one slice at a time.

A row is a name and a function that runs one slice of load for ``seconds`` and returns a wrk-shaped
result (``requests``, ``rps``, ``latency_us``, ``status``, ``socket_errors``). ``bench.run`` runs
every row in slices with the reference view between them (R B R B ... R), so each slice's ratio
is taken against the reference measured just before and just after it.

To add a row, write its slice function and append one ``Row`` in ``rows_build``.
"""

import atexit
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from bench.card_orders import card_orders
from bench.harness import Gunicorn, log, wrk
from bench.loops import checkouts_threaded


@dataclass
class Row:
    """One line of the table. ``make()`` prepares it (sessions, files) and returns ``run(seconds, index)``,
    which measures slice ``index`` (0, 1, ...); rows left out with --only are never prepared."""

    name: str
    make: Callable[[], Callable[[float, int], dict]]
    # Catalogue pages are judged against the targets (ratio, p99, zero non-2xx); writes are reported only.
    judged: bool = True
    # What counts as a bad answer: "get" (anything but 2xx), "post" (4xx/5xx and refused adds), "orders".
    kind: str = "get"


@dataclass
class Setting:
    """What every row's slice functions share."""

    app: Gunicorn
    work: Path
    connections: int
    variants: list[int]
    slices: int
    max_orders: int
    localstripe: object = None  # loopback.localstripe.LocalStripe: the fake Stripe gunicorn talks to (issue #11)


# --- Plain pages -------------------------------------------------------------------------------


def get_page(s: Setting, path: str, *, headers: dict[str, str] | None = None) -> Callable[[float, int], dict]:
    def run(seconds: float, index: int) -> dict:
        return wrk(s.app.url + path, seconds=seconds, connections=s.connections, headers=headers)

    return run


def list_with_bag(s: Setting, path: str) -> Callable[[float, int], dict]:
    """The product list as a returning shopper sees it: session cookie and three pieces in the bag."""
    from bench.shopper import Paths, Shopper

    shopper = Shopper(s.app.url, Paths.from_urlconf())
    for variant in s.variants[-3:]:
        shopper.add_to_cart(variant)
    return get_page(s, path, headers={"Cookie": shopper.cookie_header()})


# --- Many product pages ------------------------------------------------------------------------


def _slug_files(s: Setting) -> list[tuple[list[str], Path]]:
    """Disjoint sets of random product slugs, one wrk path file per slice (made once, shared by the
    detail rows), so each detail-many slice asks for pages no earlier slice has viewed."""
    from django.urls import reverse

    from catalog.models import Product

    files = []
    slugs = list(Product.objects.order_by("?").values_list("slug", flat=True)[: 2000 * s.slices])
    size = max(1, len(slugs) // s.slices)
    for index in range(s.slices):
        part = slugs[index * size : (index + 1) * size]
        path = s.work / f"detail-many-{index}.txt"
        if not path.exists():
            path.write_text("\n".join(reverse("catalog:product-detail", kwargs={"slug": x}) for x in part) + "\n")
        files.append((part, path))
    return files


def detail_many(s: Setting) -> Callable[[float, int], dict]:
    """Product pages of different products in turn, never viewed before: nothing cached for them,
    not even their stock version (made on a page's first view)."""
    files = _slug_files(s)

    def run(seconds: float, index: int) -> dict:
        slugs, data = files[index]
        log(f"  {len(slugs)} product pages never viewed before")
        return wrk(s.app.url + "/", seconds=seconds, connections=s.connections, env={"BENCH_WRK_PATHS": str(data)})

    return run


def detail_after_edit(s: Setting) -> Callable[[float, int], dict]:
    """The same product pages just after a catalogue edit: every cached page is obsolete, as after any
    staff change in a shop that has been running (each product's stock version already exists)."""
    from catalog.cache import catalog_cache_versions_bump, catalog_version, product_stock_version_start

    files = _slug_files(s)
    version = catalog_version()
    for slugs, _ in files:  # before the first reference slice, so no slice waits on these writes
        for slug in slugs:
            product_stock_version_start(slug=slug, catalogue=version)  # as their first views would have

    def run(seconds: float, index: int) -> dict:
        slugs, data = files[index]
        catalog_cache_versions_bump()
        log(f"  {len(slugs)} product pages after a catalogue edit")
        return wrk(s.app.url + "/", seconds=seconds, connections=s.connections, env={"BENCH_WRK_PATHS": str(data)})

    return run


# --- Under writes ------------------------------------------------------------------------------


def list_during_orders(s: Setting, path: str, per_second: float = 2.0) -> Callable[[float, int], dict]:
    """The product list while guest orders go through at a steady rate: each order changes stock, so
    whatever caching the catalogue does is exercised with invalidations arriving, as in a live shop."""
    from bench.shopper import Paths, Shopper

    paths = Paths.from_urlconf()

    def run(seconds: float, index: int) -> dict:
        stopping = threading.Event()
        placed = {"ok": 0, "failed": 0}

        def orderer() -> None:
            next_at, number = time.monotonic(), 0
            while not stopping.is_set():
                number += 1
                shopper = Shopper(s.app.url, paths, email=f"during{index}-{number}@example.com")
                shopper.add_to_cart(s.variants[number % len(s.variants)])
                placed["ok" if shopper.place_order().ok else "failed"] += 1
                next_at += 1 / per_second
                stopping.wait(max(0.0, next_at - time.monotonic()))  # a steady rate, bounded by the wrk run

        log(f"  {path} while {per_second:.0f} guest orders/s go through")
        thread = threading.Thread(target=orderer)
        thread.start()
        try:
            result = wrk(s.app.url + path, seconds=seconds, connections=s.connections)
        finally:
            stopping.set()
            thread.join(timeout=60)
        result["orders_during"] = placed
        return result

    return run


def bag_units() -> int:
    """Units in every bag line in the database."""
    from django.db import connections
    from django.db.models import Sum

    from cart.models import CartLine

    units = CartLine.objects.aggregate(total=Sum("quantity"))["total"] or 0
    connections.close_all()
    return units


def add_to_cart(s: Setting) -> Callable[[float, int], dict]:
    """wrk POSTs to cart:add with a CSRF cookie+token and a session made beforehand (64 shoppers x 16 variants)."""
    from bench.shopper import Paths, Shopper

    paths = Paths.from_urlconf()
    lines = []
    for index in range(64):
        shopper = Shopper(s.app.url, paths)
        shopper.add_to_cart(s.variants[index % len(s.variants)])  # creates the session, as a real first add does
        for variant in s.variants[index * 16 % len(s.variants) :][:16]:
            body = urlencode(
                {"csrfmiddlewaretoken": shopper.token, "variant": variant, "quantity": 1, "next": paths.cart_detail}
            )
            lines.append(f"{shopper.cookie_header()}\t{shopper.token}\t{body}")
    data = s.work / "add-to-cart.tsv"
    data.write_text("\n".join(lines) + "\n")
    env = {"BENCH_WRK_DATA": str(data), "BENCH_WRK_POST_PATH": paths.cart_add}

    def run(seconds: float, index: int) -> dict:
        log(f"  POST {paths.cart_add} ({len(lines)} shopper/variant pairs)")
        before = bag_units()
        result = wrk(s.app.url + paths.cart_add, seconds=seconds, connections=s.connections, env=env)
        # A refused add (say, over the per-line maximum) also redirects: count what the bags really gained.
        result["units_added"] = bag_units() - before
        result["refused"] = max(0, result["requests"] - result["units_added"])
        return result

    return run


def _place_order(shopper) -> tuple[bool, float, str]:
    outcome = shopper.place_order()
    return outcome.ok, outcome.seconds, "" if outcome.ok else f"{outcome.status} {outcome.detail[:120]}"


def orders(s: Setting) -> Callable[[float, int], dict]:
    """Whole guest checkouts over HTTP from ``connections`` threads, bounded by count and time;
    latency is that of the order-placing POST alone."""
    return checkouts_threaded(s, what="guest checkouts", email="bench", stride=7, place=_place_order)


# --- Search as an attacker sends it (issue #21) ------------------------------------------------


def attack_paths(count: int, *, start: int = 0) -> list[str]:
    """``count`` different searches of the shapes that were slow before issue #21, each new (a listing-cache
    miss): negations only (now refused), a broad word ranked by relevance, a shop word with a stone."""
    from django.urls import reverse

    list_path = reverse("catalog:product-list")
    shapes = [
        lambda n: " ".join(f"-x{n}y{i}" for i in range(25)),
        lambda n: f"ring -x{n}",
        lambda n: f"gold ring x{n}",
        lambda n: f"sapphire or diamond -x{n}",
    ]
    paths = []
    for n in range(start, start + count):
        query = urlencode({"q": shapes[n % len(shapes)](n), "sort": "relevance"})
        paths.append(f"{list_path}?{query}")
    return paths


def search_worst(s: Setting) -> Callable[[float, int], dict]:
    """One connection (no queueing: latency is the server's time) through 4,000 different attack searches,
    each a listing-cache miss; every slice its own, never sent before."""
    files = []
    for index in range(s.slices):
        path = s.work / f"search-worst-{index}.txt"
        path.write_text("\n".join(attack_paths(4000, start=index * 4000)) + "\n")
        files.append(path)

    def run(seconds: float, index: int) -> dict:
        log("  4,000 different attack searches, 1 connection")
        env = {"BENCH_WRK_PATHS": str(files[index])}
        return wrk(s.app.url + "/", seconds=seconds, connections=1, threads=1, env=env)

    return run


_limited: dict[int, Gunicorn] = {}


def limited_app(s: Setting) -> Gunicorn:
    """A second gunicorn like the first but with production's search rate limit (the bench lifts it):
    the attacker of the issue is one address. Started once, stopped by PID when the run exits."""
    if id(s) not in _limited:
        from django.conf import settings

        from jewelry_site.settings.base import env

        rate = env.str("BENCH_SEARCH_RATE_PER_IP", default="30/m")
        app = Gunicorn(s.work, name="search-limited", extra_env={"DJANGO_SHOP_SEARCH_RATE_PER_IP": rate})
        app.start()
        atexit.register(app.stop)
        _limited[id(s)] = app
        log(f"  gunicorn with the search limit ({rate}, default {settings.SHOP_SEARCH_RATE_PER_IP}) on {app.url}")
    return _limited[id(s)]


def home_page(s: Setting, *, attackers: int, limited: bool = False) -> Callable[[float, int], dict]:
    """A shopper's home page on one connection, alone (``attackers=0``) or while ``attackers`` connections
    send different attack searches as fast as the shop answers them (the issue's 4); ``limited``: on the
    instance with production's search rate limit, where most attack searches get the 429 page."""
    from django.urls import reverse

    app = limited_app(s) if limited else s.app
    home = reverse("catalog:home")
    files = []
    for index in range(s.slices if attackers else 0):
        path = s.work / f"attack-{index}.txt"
        path.write_text("\n".join(attack_paths(8000, start=100_000 + index * 8000)) + "\n")
        files.append(path)

    def run(seconds: float, index: int) -> dict:
        if not attackers:
            return wrk(app.url + home, seconds=seconds, connections=1, threads=1)
        log(f"  {home} on 1 connection while {attackers} connections send different searches")
        attack: dict = {}
        env = {"BENCH_WRK_PATHS": str(files[index])}
        # The attack runs 2 s longer than the shopper, so it covers the shopper's whole run.
        thread = threading.Thread(
            target=lambda: attack.update(wrk(app.url + "/", seconds=seconds + 2, connections=attackers, env=env))
        )
        thread.start()
        try:
            result = wrk(app.url + home, seconds=seconds, connections=1, threads=1)
        finally:
            thread.join(timeout=seconds + 60)
        result["attack"] = {k: attack.get(k) for k in ("requests", "rps", "status", "latency_us")}
        return result

    return run


# --- The list ----------------------------------------------------------------------------------


def rows_build(s: Setting, pages: dict[str, str]) -> list[Row]:
    """Every row of the table, in order (the reference is not one: it runs between them)."""
    from django.urls import reverse

    list_path = reverse("catalog:product-list")
    rows = [Row(name, lambda p=path: get_page(s, p)) for name, path in pages.items() if name != "reference"]
    rows += [
        Row("list-with-bag", lambda: list_with_bag(s, list_path)),
        Row("list-during-orders", lambda: list_during_orders(s, list_path)),
        Row("detail-many", lambda: detail_many(s)),
        Row("detail-after-edit", lambda: detail_after_edit(s)),
        Row("add-to-cart", lambda: add_to_cart(s), judged=False, kind="post"),
        Row("order-place", lambda: orders(s), judged=False, kind="orders"),
        Row("order-place-card", lambda: card_orders(s), judged=False, kind="orders"),
        # Issue #21: the search bound (server time of attack searches, 1 connection) and what an attack
        # does to a shopper (home page p99 on 1 connection, alone and beside 4 attacking connections).
        Row("search-worst", lambda: search_worst(s), judged=False),
        Row("home-1c-idle", lambda: home_page(s, attackers=0), judged=False),
        Row("home-1c-attacked", lambda: home_page(s, attackers=4), judged=False),
        Row("home-1c-idle-limited", lambda: home_page(s, attackers=0, limited=True), judged=False),
        Row("home-1c-attacked-limited", lambda: home_page(s, attackers=4, limited=True), judged=False),
    ]
    return rows
