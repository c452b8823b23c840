"""Database restart under load: /readyz fails while Postgres is down, shoppers get 503 (never 500),
and the app recovers by itself within seconds of Postgres coming back."""

import collections
import os
import shlex
import subprocess
import threading
import time
from pathlib import Path

import requests

from bench.drills.common import Context, Verdict
from bench.harness import Gunicorn
from loopback import wait_until

LOAD_THREADS = 4
RECOVERY_LIMIT_S = 10.0
OUTAGE_S = 4.0


class Postgres:
    """Stop and start the throwaway cluster scripts/with-postgres.sh made, with the same options."""

    def __init__(self) -> None:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SHOW data_directory")
            self.data = Path(cursor.fetchone()[0])
        connection.close()
        words = shlex.split((self.data / "postmaster.opts").read_text())[1:]
        options, skip = [], False
        for word in words:  # keep every option except -D (pg_ctl passes it)
            if skip:
                skip = False
            elif word == "-D":
                skip = True
            else:
                options.append(word)
        self.options = shlex.join(options)
        self.pg_ctl = str(Path(os.environ.get("PGBIN", "/usr/lib/postgresql/15/bin")) / "pg_ctl")

    def _ctl(self, *args: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []
        subprocess.run(
            [*prefix, self.pg_ctl, "-D", str(self.data), *args], check=True, timeout=60, stdout=subprocess.DEVNULL
        )

    def stop(self) -> None:
        self._ctl("-m", "fast", "-w", "stop")

    def start(self) -> None:
        self._ctl("-w", "-l", str(self.data.parent / "server.log"), "-o", self.options, "start")


class Load:
    """Steady browsing from a few threads, every answer recorded with its time (bounded by stop())."""

    def __init__(self, base: str, paths: list[str]) -> None:
        self.base, self.paths = base, paths
        self.events: list[tuple[float, str, int]] = []
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._loop, args=(i,)) for i in range(LOAD_THREADS)]

    def _loop(self, index: int) -> None:
        session, n = requests.Session(), index
        while not self.stopping.is_set():
            path = self.paths[n % len(self.paths)]
            n += 1
            try:
                status = session.get(self.base + path, timeout=10, allow_redirects=False).status_code
            except requests.RequestException:
                status = 0
            with self.lock:
                self.events.append((time.monotonic(), path, status))
            self.stopping.wait(0.02)  # pacing: a steady rate, not a flood

    def __enter__(self) -> "Load":
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=30)

    def between(self, start: float, end: float) -> collections.Counter:
        with self.lock:
            return collections.Counter(status for t, _, status in self.events if start <= t < end)


def run(ctx: Context) -> Verdict:
    verdict = Verdict("database-restart")
    db = Postgres()
    browse = [ctx.pages["product-list"], ctx.pages["product-detail"], ctx.pages["home"], ctx.pages["category"]]
    with Gunicorn(ctx.work, name="dbrestart") as app:
        readyz = app.url + "/readyz"
        with Load(app.url, browse) as load:
            t_start = time.monotonic()
            wait_until(lambda: len(load.events) >= 40, timeout=30, what="baseline traffic")
            t_stop = time.monotonic()
            db.stop()
            t_down = time.monotonic()
            verdict.note(f"Postgres stopped after {t_down - t_start:.1f} s of load ({db.data})")
            probe_down = _status(readyz)
            # Keep the database down for a few seconds of traffic so every worker meets the outage.
            wait_until(
                lambda: time.monotonic() - t_down >= OUTAGE_S and load.between(t_down, time.monotonic()).total() >= 60,
                timeout=30,
                what="outage traffic",
            )
            probe_down_late = _status(readyz)
            t_start_db = time.monotonic()
            db.start()
            t_up = time.monotonic()
            verdict.note(f"Postgres started again after {t_up - t_down:.1f} s down")
            try:
                wait_until(lambda: _status(readyz) == 200, timeout=RECOVERY_LIMIT_S * 3, what="/readyz 200")
                t_ready = time.monotonic()
                wait_until(
                    lambda: _pages_ok(load, time.monotonic() - 1.0),
                    timeout=RECOVERY_LIMIT_S * 3,
                    what="pages 200 again",
                )
                t_pages = time.monotonic()
            except RuntimeError as exc:
                verdict.check(False, str(exc))
                return verdict
            t_end = time.monotonic() + 2.0
            wait_until(lambda: time.monotonic() >= t_end, timeout=5, what="tail of traffic")
        before = load.between(t_start, t_stop)
        during = load.between(t_down, t_start_db)
        after = load.between(t_pages, time.monotonic())
    verdict.figures = {
        "before": dict(before),
        "during": dict(during),
        "after": dict(after),
        "readyz_recovery_s": round(t_ready - t_up, 2),
        "pages_recovery_s": round(t_pages - t_up, 2),
    }
    verdict.check(set(before) == {200}, f"before the outage: {dict(before)}")
    verdict.check(probe_down != 200 and probe_down_late != 200, f"/readyz while down: {probe_down}, {probe_down_late}")
    verdict.check(during.get(500, 0) == 0, f"answers while down: {dict(during)} (500s: {during.get(500, 0)})")
    verdict.check(
        set(during) <= {503, 200}, f"every failure while down is a 503: {sorted(set(during) - {200, 503}) or 'yes'}"
    )
    verdict.check(t_ready - t_up <= RECOVERY_LIMIT_S, f"/readyz 200 again {t_ready - t_up:.2f} s after Postgres was up")
    verdict.check(t_pages - t_up <= RECOVERY_LIMIT_S, f"pages 200 again {t_pages - t_up:.2f} s after Postgres was up")
    verdict.check(set(after) == {200}, f"after recovery: {dict(after)}")
    return verdict


def _status(url: str) -> int:
    try:
        return requests.get(url, timeout=5).status_code
    except requests.RequestException:
        return 0


def _pages_ok(load: Load, since: float) -> bool:
    recent = load.between(since, time.monotonic())
    return recent.total() >= 4 and set(recent) == {200}
