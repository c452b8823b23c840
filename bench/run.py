"""`make bench`: the catalogue against its floor reference, on loopback, bounded in time.

Run under scripts/with-postgres.sh (a throwaway Postgres). Loads 10,000 products, starts gunicorn
with production-like settings (bench.settings: DEBUG off, whitenoise, 2 sync workers, JSON logs to
a file), then measures each page with wrk at 8 connections, add-to-cart and order placement, and the
reference view. Prints one table and writes the same as JSON under bench/results/.

    scripts/with-postgres.sh .venv/bin/python -m bench.run [--seconds 5] [--products 10000]
"""

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

from bench.harness import RESULTS, Gunicorn, django_setup, forms_in, log, workdir, workdir_tidy, wrk

TARGET_RATIO = 0.8
TARGET_P99_MS = 50.0
GET_PAGES = (
    "reference",
    "home",
    "product-list",
    "filtered-list",
    "search",
    "category",
    "product-detail",
    "list-with-bag",
    "detail-many",
    "detail-after-edit",
    "list-during-orders",
)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("BENCH_SECONDS", 5)))
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--products", type=int, default=int(os.environ.get("BENCH_PRODUCTS", 10_000)))
    parser.add_argument("--max-orders", type=int, default=int(os.environ.get("BENCH_MAX_ORDERS", 2_000)))
    parser.add_argument("--only", nargs="*", help="measure only these rows (names as in the table)")
    return parser.parse_args(argv)


# --- What to measure ------------------------------------------------------------------------


def _filter_query(list_html: str) -> dict[str, str]:
    """A metal filter, a price ceiling and a price sort, read from the list page's own filter form
    (select or checkboxes), so the bench follows the form's field names."""
    picks: dict[str, str] = {}
    for form in forms_in(list_html):
        if form["method"] != "get":
            continue
        for f in form["fields"]:
            lowered = f["name"].lower()
            if f["tag"] == "select":
                options = [o for o in f["options"] if o]
                if "metal" in lowered and options:
                    picks[f["name"]] = "white-gold" if "white-gold" in options else options[0]
                elif "sort" in lowered and (price := [o for o in options if "price" in o.lower()]):
                    picks[f["name"]] = price[0]
            elif f["tag"] == "input" and f["type"] in ("checkbox", "radio") and "metal" in lowered:
                if f["value"] == "white-gold" or f["name"] not in picks:
                    picks[f["name"]] = f["value"]
            elif f["tag"] == "input" and "max" in lowered and "price" in lowered:
                picks[f["name"]] = "2000"
    return picks or {"metal": "white-gold", "sort": "price"}


def page_paths() -> dict[str, str]:
    from django.test import Client
    from django.urls import reverse

    from catalog.models import Category, Product

    product = Product.objects.order_by("pk")[Product.objects.count() // 2]
    category = Category.objects.filter(slug="engagement-rings").first() or Category.objects.first()
    list_path = reverse("catalog:product-list")
    list_html = Client().get(list_path).content.decode()
    filtered = os.environ.get("BENCH_FILTER_QUERY") or urlencode(_filter_query(list_html))
    return {
        "reference": reverse("bench-reference"),
        "home": reverse("catalog:home"),
        "product-list": list_path,
        "filtered-list": f"{list_path}?{filtered}",
        "search": f"{list_path}?{urlencode({'q': os.environ.get('BENCH_SEARCH', 'sapphire ring')})}",
        "category": reverse("catalog:category-detail", kwargs={"slug": category.slug}),
        "product-detail": reverse("catalog:product-detail", kwargs={"slug": product.slug}),
    }


def bench_variants(count: int) -> list[int]:
    from catalog.models import ProductVariant

    return list(ProductVariant.objects.filter(is_active=True).order_by("pk").values_list("pk", flat=True)[:count])


# --- Query counts (Django test client against the same database) ------------------------------


def _count(func) -> tuple[int, object]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        result = func()
    return len(captured.captured_queries), result


def measure_queries(pages: dict[str, str], variant_id: int) -> dict[str, dict]:
    """SQL queries and HTML bytes per request, on a warm second request (caches may be filled by the first)."""
    from django.test import Client
    from django.urls import reverse

    from bench.harness import fill_form
    from bench.shopper import Paths

    out: dict[str, dict] = {}
    client = Client()
    for name, path in pages.items():
        client.get(path)
        queries, response = _count(lambda p=path: client.get(p))
        out[name] = {"queries": queries, "bytes": len(response.content), "status": response.status_code}
    paths = Paths.from_urlconf()
    form = {"variant": variant_id, "quantity": 1, "next": paths.cart_detail}
    queries, response = _count(lambda: client.post(paths.cart_add, form))
    out["add-to-cart"] = {"queries": queries, "bytes": len(response.content), "status": response.status_code}
    from catalog.models import Product

    # A product page nobody asked for yet (cold caches), as most of detail-many's requests are.
    cold = reverse("catalog:product-detail", kwargs={"slug": Product.objects.order_by("-pk").first().slug})
    queries, response = _count(lambda: client.get(cold))
    out["detail-many"] = {"queries": queries, "bytes": len(response.content), "status": response.status_code}
    from catalog.cache import catalog_version_bump

    catalog_version_bump()  # a staff edit: the page seen above is obsolete, its stock version is not
    queries, response = _count(lambda: client.get(cold))
    out["detail-after-edit"] = {"queries": queries, "bytes": len(response.content), "status": response.status_code}
    out["list-during-orders"] = out.get("product-list", {})
    list_path = reverse("catalog:product-list")
    client.get(list_path)
    queries, response = _count(lambda: client.get(list_path))
    out["list-with-bag"] = {"queries": queries, "bytes": len(response.content), "status": response.status_code}
    if paths.checkout:
        page = client.get(paths.checkout)
        posts = sorted(
            (f for f in forms_in(page.content.decode()) if f["method"] == "post"),
            key=lambda f: len(f["fields"]),
            reverse=True,
        )
        if page.status_code == 200 and posts:
            data = fill_form(posts[0])
            queries, response = _count(lambda: client.post(posts[0]["action"] or paths.checkout, data))
            out["order-place"] = {"queries": queries, "bytes": len(response.content), "status": response.status_code}
    return out


# --- Load runs --------------------------------------------------------------------------------


def run_gets(app: Gunicorn, pages: dict[str, str], seconds: float, connections: int) -> dict[str, dict]:
    results = {}
    for name, path in pages.items():
        log(f"wrk {name}: {path}")
        results[name] = wrk(app.url + path, seconds=seconds, connections=connections)
    return results


def run_with_bag(app: Gunicorn, path: str, variants: list[int], seconds: float, connections: int) -> dict:
    """The product list as a returning shopper sees it: session cookie and three pieces in the bag."""
    from bench.shopper import Paths, Shopper

    shopper = Shopper(app.url, Paths.from_urlconf())
    for variant in variants[-3:]:
        shopper.add_to_cart(variant)
    log(f"wrk list-with-bag: {path} with a session holding 3 bag lines")
    return wrk(app.url + path, seconds=seconds, connections=connections, headers={"Cookie": shopper.cookie_header()})


def _detail_many_slugs(work: Path) -> tuple[list[str], Path]:
    """2,000 random product slugs (the same for both detail rows), and a wrk path file of their pages."""
    from django.urls import reverse

    from catalog.models import Product

    data = work / "detail-many.txt"
    if not data.exists():
        slugs = list(Product.objects.order_by("?").values_list("slug", flat=True)[:2000])
        data.write_text("\n".join(reverse("catalog:product-detail", kwargs={"slug": s}) for s in slugs) + "\n")
    slugs = [line.strip("/").rsplit("/", 1)[-1] for line in data.read_text().split()]
    return slugs, data


def run_detail_many(app: Gunicorn, seconds: float, connections: int, work: Path) -> dict:
    """Product pages of 2,000 different products in turn, never viewed before: nothing cached for them,
    not even their stock version (made on a page's first view)."""
    slugs, data = _detail_many_slugs(work)
    log(f"wrk detail-many: {len(slugs)} different product pages in turn, never viewed before")
    return wrk(app.url + "/", seconds=seconds, connections=connections, env={"BENCH_WRK_PATHS": str(data)})


def run_detail_after_edit(app: Gunicorn, seconds: float, connections: int, work: Path) -> dict:
    """The same 2,000 product pages just after a catalogue edit: every cached page is obsolete, as after
    any staff change in a shop that has been running (each product's stock version already exists)."""
    from catalog.cache import catalog_version, catalog_version_bump, product_stock_version_start

    slugs, data = _detail_many_slugs(work)
    version = catalog_version()
    for slug in slugs:
        product_stock_version_start(slug=slug, catalogue=version)  # as their first views would have
    catalog_version_bump()
    log(f"wrk detail-after-edit: the same {len(slugs)} product pages after a catalogue edit")
    return wrk(app.url + "/", seconds=seconds, connections=connections, env={"BENCH_WRK_PATHS": str(data)})


def run_list_during_orders(
    app: Gunicorn, path: str, variants: list[int], seconds: float, connections: int, per_second: float = 2.0
) -> dict:
    """The product list while guest orders go through at a steady rate: each order changes stock, so
    whatever caching the catalogue does is exercised with invalidations arriving, as in a live shop."""
    from bench.shopper import Paths, Shopper

    paths = Paths.from_urlconf()
    stopping = threading.Event()
    placed = {"ok": 0, "failed": 0}

    def orderer() -> None:
        next_at, number = time.monotonic(), 0
        while not stopping.is_set():
            number += 1
            shopper = Shopper(app.url, paths, email=f"during{number}@example.com")
            shopper.add_to_cart(variants[number % len(variants)])
            placed["ok" if shopper.place_order().ok else "failed"] += 1
            next_at += 1 / per_second
            stopping.wait(max(0.0, next_at - time.monotonic()))  # a steady rate, bounded by the wrk run

    log(f"wrk list-during-orders: {path} while {per_second:.0f} guest orders/s go through")
    thread = threading.Thread(target=orderer)
    thread.start()
    try:
        result = wrk(app.url + path, seconds=seconds, connections=connections)
    finally:
        stopping.set()
        thread.join(timeout=60)
    result["orders_during"] = placed
    return result


def run_add_to_cart(app: Gunicorn, variants: list[int], seconds: float, connections: int, work: Path) -> dict:
    """wrk POSTs to cart:add with a CSRF cookie+token and a session made beforehand (64 shoppers x 16 variants)."""
    from bench.shopper import Paths, Shopper

    paths = Paths.from_urlconf()
    lines = []
    for index in range(64):
        shopper = Shopper(app.url, paths)
        shopper.add_to_cart(variants[index % len(variants)])  # creates the session, as a real first add does
        for variant in variants[index * 16 % len(variants) :][:16]:
            body = urlencode(
                {"csrfmiddlewaretoken": shopper.token, "variant": variant, "quantity": 1, "next": paths.cart_detail}
            )
            lines.append(f"{shopper.cookie_header()}\t{shopper.token}\t{body}")
    data = work / "add-to-cart.tsv"
    data.write_text("\n".join(lines) + "\n")
    log(f"wrk add-to-cart: POST {paths.cart_add} ({len(lines)} shopper/variant pairs)")
    env = {"BENCH_WRK_DATA": str(data), "BENCH_WRK_POST_PATH": paths.cart_add}
    before = bag_units()
    result = wrk(app.url + paths.cart_add, seconds=seconds, connections=connections, env=env)
    # A refused add (say, over the per-line maximum) also redirects: count what the bags really gained.
    if before is not None:
        result["units_added"] = bag_units() - before
        result["refused"] = max(0, result["requests"] - result["units_added"])
    return result


def bag_units() -> int | None:
    """Units in every bag line in the database (None when the cart app has no CartLine model)."""
    from django.apps import apps
    from django.db import connections
    from django.db.models import Sum

    try:
        line_model = apps.get_model("cart", "CartLine")
    except LookupError:
        return None
    units = line_model.objects.aggregate(total=Sum("quantity"))["total"] or 0
    connections.close_all()
    return units


def run_orders(app: Gunicorn, variants: list[int], seconds: float, connections: int, max_orders: int) -> dict:
    """Whole guest checkouts over HTTP from ``connections`` threads, bounded by count and time;
    latency is that of the order-placing POST alone."""
    from bench.shopper import Paths, Shopper

    paths = Paths.from_urlconf()
    if not paths.checkout:
        return {"skipped": "orders:checkout does not exist yet"}
    deadline = time.monotonic() + seconds
    lock = threading.Lock()
    latencies: list[float] = []
    failures: list[str] = []
    attempts = [0]

    def worker(index: int) -> None:
        while time.monotonic() < deadline:
            with lock:
                if attempts[0] >= max_orders:
                    return
                attempts[0] += 1
                number = attempts[0]
            shopper = Shopper(app.url, paths, email=f"bench{number}@example.com")
            shopper.add_to_cart(variants[(number * 7 + index) % len(variants)])
            outcome = shopper.place_order()
            with lock:
                if outcome.ok:
                    latencies.append(outcome.seconds)
                else:
                    failures.append(f"{outcome.status} {outcome.detail[:120]}")

    log(f"orders: guest checkouts from {connections} threads for {seconds:.0f} s (at most {max_orders})")
    start = time.monotonic()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
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
        "latency_us": {
            "p50": pct(0.50),
            "p90": pct(0.90),
            "p99": pct(0.99),
            "mean": statistics.fmean(ordered) * 1e6 if ordered else 0.0,
        },
        "status": {"failed": len(failures)},
        "failures_sample": failures[:5],
        "socket_errors": 0,
    }


# --- Report ---------------------------------------------------------------------------------


def rows(results: dict, queries: dict) -> list[dict]:
    reference_rps = results.get("reference", {}).get("rps") or 0.0
    table = []
    for name, r in results.items():
        if "skipped" in r:
            table.append({"page": name, "skipped": r["skipped"]})
            continue
        status = r.get("status", {})
        if name == "order-place":
            bad = status.get("failed", 0)
        elif name == "add-to-cart":  # a redirect after POST is the correct answer; refused adds count as bad
            bad = status.get("4xx", 0) + status.get("5xx", 0) + r["socket_errors"] + r.get("refused", 0)
        else:
            bad = status.get("3xx", 0) + status.get("4xx", 0) + status.get("5xx", 0) + r["socket_errors"]
        row = {
            "page": name,
            "rps": round(r["rps"], 1),
            "p50_ms": round(r["latency_us"]["p50"] / 1000, 1),
            "p99_ms": round(r["latency_us"]["p99"] / 1000, 1),
            "non_2xx": bad,
            "requests": r["requests"],
            "queries": queries.get(name, {}).get("queries"),
            "html_bytes": queries.get(name, {}).get("bytes"),
            "ratio": round(r["rps"] / reference_rps, 2) if reference_rps else None,
            "status": status,
        }
        if name in GET_PAGES and name != "reference":
            row["meets_targets"] = bool(
                row["ratio"] is not None
                and row["ratio"] >= TARGET_RATIO
                and row["p99_ms"] < TARGET_P99_MS
                and row["non_2xx"] == 0
            )
        table.append(row)
    return table


def print_table(table: list[dict]) -> None:
    head = (
        f"{'page':<20}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>9}{'queries':>9}{'bytes':>9}{'ratio':>8}"
        "  target"
    )
    print("\n" + head + "\n" + "-" * len(head))
    for row in table:
        if "skipped" in row:
            print(f"{row['page']:<20}  skipped: {row['skipped']}")
            continue
        verdict = {True: "met", False: "MISSED", None: ""}[row.get("meets_targets")]
        print(
            f"{row['page']:<20}{row['rps']:>9.1f}{row['p50_ms']:>9.1f}{row['p99_ms']:>9.1f}{row['non_2xx']:>9}"
            f"{row['queries'] if row['queries'] is not None else '-':>9}"
            f"{row['html_bytes'] if row['html_bytes'] is not None else '-':>9}"
            f"{row['ratio'] if row['ratio'] is not None else '-':>8}  {verdict}"
        )
    print(
        f"\ntargets: catalogue pages >= {TARGET_RATIO}x reference req/s, p99 < {TARGET_P99_MS:.0f} ms, zero non-2xx."
        "\nnon-2xx: add-to-cart counts 4xx/5xx and adds the bags did not gain (its 302 after POST is correct);"
        " order-place counts failed orders."
        "\nqueries/bytes: Django test client on the same database, second (warm) request;"
        " detail-many: the first request for a product page (cold);"
        " detail-after-edit: the first request for it after a catalogue edit."
    )


def paths_ok(args: argparse.Namespace, name: str) -> bool:
    return not args.only or name in args.only


def log_shape(path: Path) -> tuple[int, int]:
    """Lines in the gunicorn log and how many of them are not JSON objects."""
    lines = bad = 0
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            lines += 1
            try:
                bad += not isinstance(json.loads(line), dict)
            except ValueError:
                bad += 1
    return lines, bad


def git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False, timeout=10
        ).stdout.strip()
    except OSError:
        return ""


def main(argv=None) -> int:
    args = parse_args(argv)
    started = time.time()
    load_at_start = os.getloadavg()
    if load_at_start[0] > (os.cpu_count() or 1):
        log(f"warning: load average {load_at_start[0]:.1f} on {os.cpu_count()} CPUs: figures will not be comparable")
    work = workdir()
    log(f"work folder {work}")
    django_setup(work)
    from django.urls import reverse

    from bench.catalog_data import catalogue_load

    t0 = time.monotonic()
    counts = catalogue_load(products=args.products)
    log(f"catalogue loaded in {time.monotonic() - t0:.1f} s: {counts}")
    pages = page_paths()
    if args.only:
        pages = {k: v for k, v in pages.items() if k in args.only or k == "reference"}
    variants = bench_variants(2000)
    queries = measure_queries(pages, variants[0])
    from django.db import connections

    connections.close_all()
    results: dict[str, dict] = {}
    with Gunicorn(work, name="bench") as app:
        log(f"gunicorn on {app.url}, workers {app.worker_pids()}, log {app.log_path}")
        for path in pages.values():  # warm both workers (templates, connections, caches)
            for _ in range(4):
                subprocess.run(["curl", "-s", "-o", "/dev/null", app.url + path], check=False, timeout=30)
        results.update(run_gets(app, pages, args.seconds, args.connections))
        if not args.only or "list-with-bag" in args.only:
            list_path = reverse("catalog:product-list")
            results["list-with-bag"] = run_with_bag(app, list_path, variants, args.seconds, args.connections)
        if paths_ok(args, "list-during-orders"):
            list_path = reverse("catalog:product-list")
            results["list-during-orders"] = run_list_during_orders(
                app, list_path, variants, args.seconds, args.connections
            )
        if not args.only or "detail-many" in args.only:
            results["detail-many"] = run_detail_many(app, args.seconds, args.connections, work)
        if paths_ok(args, "detail-after-edit"):
            results["detail-after-edit"] = run_detail_after_edit(app, args.seconds, args.connections, work)
        if not args.only or "add-to-cart" in args.only:
            results["add-to-cart"] = run_add_to_cart(app, variants, args.seconds, args.connections, work)
        if not args.only or "order-place" in args.only:
            results["order-place"] = run_orders(app, variants, args.seconds, args.connections, args.max_orders)
    log_lines, non_json = log_shape(app.log_path)
    table = rows(results, queries)
    print_table(table)
    report = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "commit": git_commit(),
        "experiments": os.environ.get("BENCH_EXPERIMENTS", ""),
        "cpus": os.cpu_count(),
        "load_average_at_start": load_at_start,
        "load_average_at_end": os.getloadavg(),
        "seconds_per_page": args.seconds,
        "connections": args.connections,
        "catalogue": counts,
        "paths": pages,
        "rows": table,
        "raw": results,
        "queries": queries,
        "gunicorn_log": str(app.log_path),
        "gunicorn_log_lines": log_lines,
        "gunicorn_log_non_json_lines": non_json,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(started))
    for name in (f"bench-{stamp}.json", "bench-latest.json"):
        (RESULTS / name).write_text(json.dumps(report, indent=2, default=str))
    log(f"wrote {RESULTS / f'bench-{stamp}.json'}")
    log(f"gunicorn log {app.log_path}: {log_lines} lines, {non_json} not JSON")
    workdir_tidy(work)
    return 0


if __name__ == "__main__":
    tempfile.tempdir = None
    raise SystemExit(main())
