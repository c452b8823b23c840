"""`make lighthouse`: Lighthouse 12.2.3 (npm, pinned in bench/package-lock.json) on home, product list,
product detail of the demo catalogue and the size guide (a content page), served by gunicorn with bench
settings, audited with Debian's Chromium. Prints performance, accessibility, best-practices and SEO
scores and the audits that cost points; writes the same as JSON under bench/results/.

    scripts/with-postgres.sh .venv/bin/python -m bench.lighthouse [--preset desktop]
"""

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from bench.harness import REPO, RESULTS, Gunicorn, django_setup, log, workdir, workdir_tidy

CATEGORIES = ("performance", "accessibility", "best-practices", "seo")
TARGET = 95
LIGHTHOUSE = REPO / "bench" / "node_modules" / "lighthouse" / "cli" / "index.js"
CHROME_FLAGS = (
    "--headless=new --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking "
    "--disable-component-update --disable-sync --disable-dev-shm-usage"
)


def demo_catalogue() -> str:
    """The demo catalogue when its loader exists (issue #2), else a small bench catalogue."""
    from django.core.management import call_command, get_commands

    if "load_demo_catalog" in get_commands():
        call_command("load_demo_catalog", verbosity=0)
        return "load_demo_catalog"
    from bench.catalog_data import catalogue_load

    catalogue_load(products=60)
    return "bench catalogue (60 products; load_demo_catalog not available)"


def audit_paths() -> dict[str, str]:
    from django.urls import reverse

    from catalog.models import Product

    product = Product.objects.active().filter(images__isnull=False).order_by("pk").first()
    product = product or Product.objects.active().order_by("pk").first()
    return {
        "home": reverse("catalog:home"),
        "product-list": reverse("catalog:product-list"),
        "product-detail": reverse("catalog:product-detail", kwargs={"slug": product.slug}),
        "size-guide": reverse("pages:size-guide"),  # a content page (issue #14)
    }


def run_lighthouse(url: str, out: Path, preset: str | None) -> dict:
    profile = tempfile.mkdtemp(prefix="jewelry-lh-profile.")
    args = [
        "node",
        str(LIGHTHOUSE),
        url,
        "--output=json",
        f"--output-path={out}",
        "--quiet",
        f"--only-categories={','.join(CATEGORIES)}",
        f"--chrome-flags={CHROME_FLAGS} --user-data-dir={profile}",
        "--max-wait-for-load=30000",
    ]
    if preset:
        args.append(f"--preset={preset}")
    env = {**os.environ, "CHROME_PATH": os.environ.get("CHROME_PATH", "/usr/bin/chromium")}
    try:
        completed = subprocess.run(args, capture_output=True, text=True, timeout=240, env=env, check=False)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    if completed.returncode != 0 or not out.exists():
        raise RuntimeError(f"lighthouse failed on {url} (exit {completed.returncode}): {completed.stderr[-2000:]}")
    return json.loads(out.read_text())


def summarise(report: dict) -> dict:
    scores = {c: round((report["categories"][c]["score"] or 0) * 100) for c in CATEGORIES}
    losing = []
    for category in CATEGORIES:
        for ref in report["categories"][category]["auditRefs"]:
            audit = report["audits"].get(ref["id"], {})
            if ref.get("weight", 0) > 0 and audit.get("score") is not None and audit["score"] < 1:
                losing.append(
                    {
                        "category": category,
                        "audit": ref["id"],
                        "score": audit["score"],
                        "title": audit.get("title", ""),
                        "value": audit.get("displayValue", ""),
                    }
                )
    metrics = {
        k: report["audits"][k].get("displayValue", "")
        for k in (
            "first-contentful-paint",
            "largest-contentful-paint",
            "total-blocking-time",
            "cumulative-layout-shift",
        )
        if k in report["audits"]
    }
    return {"scores": scores, "losing_audits": losing, "metrics": metrics}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=["desktop", "perf", "experimental"], default=os.environ.get("LH_PRESET"))
    args = parser.parse_args(argv)
    if not LIGHTHOUSE.exists():
        raise SystemExit("lighthouse: run `npm ci` in bench/ (scripts/install.sh bench does it)")
    work = workdir()
    django_setup(work)
    source = demo_catalogue()
    paths = audit_paths()
    from django.db import connections

    connections.close_all()
    results: dict[str, dict] = {}
    failed: dict[str, str] = {}
    with Gunicorn(work, name="lighthouse") as app:
        for name, path in paths.items():
            log(f"lighthouse {name}: {app.url}{path} ({args.preset or 'mobile'} preset)")
            report = None
            for attempt in (1, 2):  # Lighthouse itself asks for a rerun after a lost trace (NO_NAVSTART)
                try:
                    report = run_lighthouse(app.url + path, work / f"lighthouse-{name}.json", args.preset)
                    break
                except (RuntimeError, subprocess.TimeoutExpired) as exc:
                    log(f"lighthouse {name} attempt {attempt} failed: {str(exc)[:300]}")
                    failed[name] = str(exc)[:500]
            if report is None:
                continue
            failed.pop(name, None)
            results[name] = summarise(report)
    print(f"\n{'page':<16}" + "".join(f"{c:>16}" for c in CATEGORIES))
    for name, summary in results.items():
        print(f"{name:<16}" + "".join(f"{summary['scores'][c]:>16}" for c in CATEGORIES))
    print(f"\ntarget: {TARGET} or more in each. Catalogue: {source}. Preset: {args.preset or 'mobile (default)'}.")
    for name, summary in results.items():
        print(f"\n{name}: {summary['metrics']}")
        for item in summary["losing_audits"]:
            print(f"  - [{item['category']}] {item['audit']}: {item['title']} {item['value']} (score {item['score']})")
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    preset = args.preset or "mobile"
    report = {"preset": preset, "catalogue": source, "paths": paths, "pages": results, "failed": failed}
    for file in (f"lighthouse-{stamp}.json", "lighthouse-latest.json"):
        (RESULTS / file).write_text(json.dumps(report, indent=2))
    below = [n for n, s in results.items() if min(s["scores"].values()) < TARGET]
    log(f"wrote {RESULTS / f'lighthouse-{stamp}.json'}; below {TARGET}: {below or 'none'}; failed: {failed or 'none'}")
    workdir_tidy(work)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
