"""Graceful reload: HUP gunicorn twice during a 20 s wrk run; zero failed requests."""

import os
import signal
import threading
import time

from bench.drills.common import Context, Verdict
from bench.harness import Gunicorn, wrk


def run(ctx: Context) -> Verdict:
    verdict = Verdict("graceful-reload")
    seconds = float(os.environ.get("DRILL_RELOAD_SECONDS", 20))
    with Gunicorn(ctx.work, name="reload") as app:
        url = app.url + ctx.pages["product-list"]
        before = app.worker_pids()
        verdict.note(f"wrk {seconds:.0f} s at 8 connections on {ctx.pages['product-list']}; workers {before}")
        result: dict = {}
        load = threading.Thread(target=lambda: result.update(wrk(url, seconds=seconds, connections=8)))
        load.start()
        t0 = time.monotonic()
        # The drill's schedule, not synchronisation: reload at a quarter and at 60 % of the run.
        for at in (seconds * 0.25, seconds * 0.6):
            time.sleep(max(0.0, t0 + at - time.monotonic()))
            app.signal(signal.SIGHUP)
            verdict.note(f"HUP sent at ~{at:.0f} s; workers now {app.worker_pids()}")
        load.join(timeout=seconds + 60)
        after = app.worker_pids()
    status = result.get("status", {})
    failed = result.get("socket_errors", -1) + status.get("4xx", 0) + status.get("5xx", 0) + status.get("3xx", 0)
    verdict.figures = {"requests": result.get("requests"), "status": status, "errors": result.get("errors")}
    verdict.check(bool(result) and result["requests"] > 0, f"{result.get('requests', 0)} requests completed")
    verdict.check(set(after).isdisjoint(before), f"workers replaced: {before} -> {after}")
    verdict.check(failed == 0, f"failed requests: {failed} (socket errors {result.get('errors')}, status {status})")
    return verdict
