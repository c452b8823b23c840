"""`make drills`: every failure drill in turn (or the ones named), one verdict each, JSON under bench/results/.

    scripts/with-postgres.sh .venv/bin/python -m bench.drills [reload crash two-instances s3 fuzz soak last-piece
                                                               db-restart]

DRILL_SOAK_SECONDS (300), DRILL_RELOAD_SECONDS (20) and DRILL_FUZZ_EXAMPLES (2400) shorten runs while developing.
"""

import json
import os
import sys
import time
import traceback

from bench.harness import RESULTS, django_setup, log, workdir, workdir_tidy

DRILLS = {
    "reload": "bench.drills.reload",
    "crash": "bench.drills.crash",
    "two-instances": "bench.drills.two_instances",
    "s3": "bench.drills.s3_down",
    "fuzz": "bench.drills.fuzz",
    "soak": "bench.drills.soak",
    # Last, these two: they stop and start the database every other drill uses.
    "last-piece": "bench.drills.last_piece",
    "db-restart": "bench.drills.db_restart",
}
PRODUCTS = int(os.environ.get("DRILL_PRODUCTS", 2000))


def main(argv: list[str]) -> int:
    import importlib

    names = [name.replace("_", "-") for name in argv] or list(DRILLS)  # last_piece as well as last-piece
    unknown = [n for n in names if n not in DRILLS]
    if unknown:
        raise SystemExit(f"unknown drill(s) {unknown}; choose from {list(DRILLS)}")
    work = workdir()
    log(f"drills {names}; work folder {work}")
    django_setup(work)
    from django.db import connections

    from bench.catalog_data import catalogue_load
    from bench.drills.common import Context
    from bench.run import bench_variants, page_paths

    log(f"catalogue: {catalogue_load(products=PRODUCTS)}")
    ctx = Context(work=work, pages=page_paths(), variants=bench_variants(300), pg_dsn=os.environ["DJANGO_DATABASE_URL"])
    connections.close_all()
    verdicts = []
    for name in names:
        log(f"--- drill {name}")
        started = time.monotonic()
        try:
            verdict = importlib.import_module(DRILLS[name]).run(ctx)
        except Exception:
            from bench.drills.common import Verdict

            verdict = Verdict(name, passed=False)
            verdict.note("drill crashed:\n" + traceback.format_exc())
        connections.close_all()
        verdict.figures["seconds"] = round(time.monotonic() - started, 1)
        verdicts.append(verdict)
        log(f"--- {name}: {'PASS' if verdict.passed else 'FAIL'} ({verdict.figures['seconds']} s)")
    print("\nDrill results")
    for v in verdicts:
        print(f"  {'PASS' if v.passed else 'FAIL'}  {v.name}")
        for line in v.seen:
            print(f"          {line}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    report = [{"name": v.name, "passed": v.passed, "seen": v.seen, "figures": v.figures} for v in verdicts]
    for file in (f"drills-{stamp}.json", "drills-latest.json"):
        (RESULTS / file).write_text(json.dumps(report, indent=2, default=str))
    log(f"wrote {RESULTS / f'drills-{stamp}.json'}; logs in {work}")
    workdir_tidy(work)
    return 0 if all(v.passed for v in verdicts) else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
