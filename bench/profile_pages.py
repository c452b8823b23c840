"""Where a page's time goes: every SQL query of each benchmark page with its duration, the Python
time around them, and EXPLAIN ANALYZE of the slowest ones. For finding what to fix, not a figure.

    scripts/with-postgres.sh .venv/bin/python -m bench.profile_pages [--products 10000] [page ...]
"""

import argparse
import time

from bench.harness import django_setup, workdir


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=10_000)
    parser.add_argument("--explain", type=int, default=2, help="EXPLAIN ANALYZE this many slowest queries per page")
    parser.add_argument("pages", nargs="*")
    args = parser.parse_args(argv)
    django_setup(workdir())
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from bench.catalog_data import catalogue_load
    from bench.run import page_paths

    catalogue_load(products=args.products)
    client = Client()
    for name, path in page_paths().items():
        if args.pages and name not in args.pages:
            continue
        client.get(path)
        timings = []
        for _ in range(5):
            with CaptureQueriesContext(connection) as captured:
                start = time.perf_counter()
                client.get(path)
                timings.append(time.perf_counter() - start)
        total = min(timings) * 1000
        queries = [(float(q["time"]) * 1000, q["sql"]) for q in captured.captured_queries]
        sql_ms = sum(ms for ms, _ in queries)
        print(f"\n== {name} {path}: best of 5 {total:.1f} ms, SQL {sql_ms:.1f} ms in {len(queries)} queries")
        for ms, sql in queries:
            print(f"   {ms:7.1f} ms  {sql[:160]}")
        for ms, sql in sorted(queries, reverse=True)[: args.explain]:
            if not sql.lstrip().upper().startswith("SELECT"):
                continue
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS OFF) " + sql)
                plan = "\n".join("      " + row[0] for row in cursor.fetchall())
            print(f"   -- plan of the {ms:.1f} ms query:\n{plan}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
