"""`make bench`: the catalogue against its floor reference, on loopback, bounded in time.

Run under scripts/with-postgres.sh (a throwaway Postgres). Loads 10,000 products, starts gunicorn
with production-like settings (bench.settings: DEBUG off, whitenoise, 2 sync workers, JSON logs to
a file), then measures each row (pages with wrk at 8 connections, add-to-cart, order placement) in
slices with the reference view run before and after each slice, so every ratio comes from its
neighbours. Prints one table and writes the same as JSON under bench/results/.

    scripts/with-postgres.sh .venv/bin/python -m bench.run [--seconds 5] [--repeats 3] [--products 10000]
"""

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

from bench.harness import RESULTS, Gunicorn, django_setup, forms_in, http_status, log, workdir, workdir_tidy
from bench.rows import Setting, get_page, rows_build
from loopback.localstripe import localstripe_running

TARGET_RATIO = 0.8
TARGET_P99_MS = 50.0


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("BENCH_SECONDS", 5)))
    parser.add_argument(
        "--repeats",
        type=int,
        default=int(os.environ.get("BENCH_REPEATS", 3)),
        help="slices per row, each between two reference runs",
    )
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
    from catalog.cache import catalog_cache_versions_bump

    catalog_cache_versions_bump()  # a staff edit: the page seen above is obsolete, its stock version is not
    queries, response = _count(lambda: client.get(cold))
    out["detail-after-edit"] = {"queries": queries, "bytes": len(response.content), "status": response.status_code}
    out["list-during-orders"] = out.get("product-list", {})
    list_path = reverse("catalog:product-list")
    client.get(list_path)
    queries, response = _count(lambda: client.get(list_path))
    out["list-with-bag"] = {"queries": queries, "bytes": len(response.content), "status": response.status_code}
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


# --- Interleaved runs ---------------------------------------------------------------------------


def slice_plan(seconds: float, repeats: int) -> tuple[int, int]:
    """(slices, seconds per slice): a row's ``seconds`` split into ``repeats`` wrk runs of at least 1 s."""
    repeats = max(1, repeats)
    return repeats, max(1, round(seconds / repeats))


def interleaved(row_run, reference_run, *, slices: int, seconds: float) -> dict:
    """R B R B ... R: each slice of the row between two reference slices; a slice's ratio is its
    req/s over the mean of those two neighbours, so drift of the machine cancels out of it."""
    references = [reference_run(seconds, 0)]
    runs = []
    for index in range(slices):
        runs.append(row_run(seconds, index))
        references.append(reference_run(seconds, index + 1))
    ratios = []
    for run, before, after in zip(runs, references, references[1:], strict=False):
        neighbours = (before["rps"] + after["rps"]) / 2
        ratios.append(run["rps"] / neighbours if neighbours else 0.0)
    return {"slices": runs, "reference_slices": references, "ratios": ratios}


def combined(slices: list[dict]) -> dict:
    """One row from its slices: counts add up, req/s over the total time, p50 the median slice's,
    p99 the worst slice's (percentiles of separate runs cannot be merged exactly)."""
    requests = sum(r["requests"] for r in slices)
    seconds = sum(r["duration_us"] for r in slices) / 1e6
    status: dict[str, int] = {}
    for r in slices:
        for key, value in r.get("status", {}).items():
            status[key] = status.get(key, 0) + value
    out = {
        "requests": requests,
        "rps": requests / seconds if seconds else 0.0,
        "p50_ms": statistics.median(r["latency_us"]["p50"] for r in slices) / 1000,
        "p99_ms": max(r["latency_us"]["p99"] for r in slices) / 1000,
        "status": status,
        "socket_errors": sum(r["socket_errors"] for r in slices),
    }
    for key in ("refused", "orders"):
        if any(key in r for r in slices):
            out[key] = sum(r.get(key, 0) for r in slices)
    if any("orders_during" in r for r in slices):
        out["orders_during"] = {
            outcome: sum(r.get("orders_during", {}).get(outcome, 0) for r in slices) for outcome in ("ok", "failed")
        }
    return out


# --- Report ---------------------------------------------------------------------------------


def bad_answers(kind: str, r: dict) -> int:
    status = r["status"]
    if kind == "orders":
        return status.get("failed", 0)
    if kind == "post":  # a redirect after POST is the correct answer; refused adds count as bad
        return status.get("4xx", 0) + status.get("5xx", 0) + r["socket_errors"] + r.get("refused", 0)
    return status.get("3xx", 0) + status.get("4xx", 0) + status.get("5xx", 0) + r["socket_errors"]


def table_rows(measured: dict[str, dict], rows: dict, queries: dict) -> list[dict]:
    """The printed table: the reference first (its own drift as the spread), then each row."""
    all_references = [r for m in measured.values() for r in m["reference_slices"]]
    reference = combined(all_references)
    reference_rps = [r["rps"] for r in all_references]
    middle = statistics.median(reference_rps)
    table = [
        {
            "page": "reference",
            "rps": round(reference["rps"], 1),
            "reference_rps": None,
            "ratio": 1.0,
            "spread": [round(min(reference_rps) / middle, 2), round(max(reference_rps) / middle, 2)],
            "p50_ms": round(reference["p50_ms"], 1),
            "p99_ms": round(reference["p99_ms"], 1),
            "non_2xx": bad_answers("get", reference),
            "requests": reference["requests"],
            "queries": queries.get("reference", {}).get("queries"),
            "html_bytes": queries.get("reference", {}).get("bytes"),
            "status": reference["status"],
        }
    ]
    for name, m in measured.items():
        row, r = rows[name], combined(m["slices"])
        neighbours = [x["rps"] for x in m["reference_slices"]]
        line = {
            "page": name,
            "rps": round(r["rps"], 1),
            "reference_rps": round(statistics.fmean(neighbours), 1),
            "ratio": round(statistics.median(m["ratios"]), 2),
            "spread": [round(min(m["ratios"]), 2), round(max(m["ratios"]), 2)],
            "ratios": [round(x, 3) for x in m["ratios"]],
            "p50_ms": round(r["p50_ms"], 1),
            "p99_ms": round(r["p99_ms"], 1),
            "non_2xx": bad_answers(row.kind, r),
            "requests": r["requests"],
            "queries": queries.get(name, {}).get("queries"),
            "html_bytes": queries.get(name, {}).get("bytes"),
            "status": r["status"],
        }
        for key in ("orders_during", "orders", "refused"):
            if key in r:
                line[key] = r[key]
        if row.judged:
            line["meets_targets"] = bool(
                line["ratio"] >= TARGET_RATIO and line["p99_ms"] < TARGET_P99_MS and line["non_2xx"] == 0
            )
        table.append(line)
    return table


def print_table(table: list[dict], *, slices: int, seconds: int) -> None:
    head = (
        f"{'page':<20}{'req/s':>9}{'ref req/s':>11}{'ratio':>7}{'spread':>12}{'p50 ms':>8}{'p99 ms':>8}"
        f"{'non-2xx':>9}{'queries':>9}{'bytes':>8}  target"
    )
    print("\n" + head + "\n" + "-" * len(head))
    for row in table:
        verdict = {True: "met", False: "MISSED", None: ""}[row.get("meets_targets")]
        spread = f"{row['spread'][0]:.2f}-{row['spread'][1]:.2f}"
        print(
            f"{row['page']:<20}{row['rps']:>9.1f}"
            f"{row['reference_rps'] if row['reference_rps'] is not None else '-':>11}"
            f"{row['ratio']:>7.2f}{spread:>12}{row['p50_ms']:>8.1f}{row['p99_ms']:>8.1f}{row['non_2xx']:>9}"
            f"{row['queries'] if row['queries'] is not None else '-':>9}"
            f"{row['html_bytes'] if row['html_bytes'] is not None else '-':>8}  {verdict}"
        )
    print(
        f"\neach row: {slices} slices of {seconds} s, the reference run before and after each (R B R B ... R);"
        " ratio = median over slices of the slice's req/s / the mean of its two reference neighbours;"
        " spread = lowest-highest slice ratio (reference row: its slices' req/s over their median)."
        f"\ntargets: catalogue pages ratio >= {TARGET_RATIO}, p99 < {TARGET_P99_MS:.0f} ms (worst slice), zero non-2xx."
        "\nnon-2xx: add-to-cart counts 4xx/5xx and adds the bags did not gain (its 302 after POST is correct);"
        " order-place counts failed orders."
        "\nqueries/bytes: Django test client on the same database, second (warm) request;"
        " detail-many: the first request for a product page (cold);"
        " detail-after-edit: the first request for it after a catalogue edit."
    )


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
    slices, seconds = slice_plan(args.seconds, args.repeats)
    measured: dict[str, dict] = {}
    # Card payments on, against localstripe on loopback (issue #11: the order-place-card row).
    with localstripe_running() as localstripe, Gunicorn(work, name="bench", extra_env=localstripe.env()) as app:
        log(f"gunicorn on {app.url}, workers {app.worker_pids()}, log {app.log_path}")
        for path in pages.values():  # warm both workers (templates, connections, caches)
            for _ in range(4):
                http_status(app.url + path, timeout=30)
        setting = Setting(
            app=app,
            work=work,
            connections=args.connections,
            variants=variants,
            slices=slices,
            max_orders=args.max_orders,
            localstripe=localstripe,
        )
        reference_run = get_page(setting, pages["reference"])
        rows = {row.name: row for row in rows_build(setting, pages) if not args.only or row.name in args.only}
        for name, row in rows.items():
            log(f"{name}: {slices} slices of {seconds} s between reference slices")
            measured[name] = interleaved(row.make(), reference_run, slices=slices, seconds=seconds)
    log_lines, non_json = log_shape(app.log_path)
    table = table_rows(measured, rows, queries)
    print_table(table, slices=slices, seconds=seconds)
    report = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "commit": git_commit(),
        "cpus": os.cpu_count(),
        "load_average_at_start": load_at_start,
        "load_average_at_end": os.getloadavg(),
        "seconds_per_row": args.seconds,
        "slices_per_row": slices,
        "seconds_per_slice": seconds,
        "wall_seconds": round(time.time() - started, 1),
        "connections": args.connections,
        "catalogue": counts,
        "paths": pages,
        "rows": table,
        "raw": measured,
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
