"""Shared machinery for the benchmark and the drills: Django set-up on the throwaway Postgres,
gunicorn on loopback (stopped by PID), wrk runs, and small HTTP helpers.

Everything binds to 127.0.0.1; every wait is bounded; every process started here is stopped here.
"""

import json
import logging
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

from loopback import free_port, wait_until

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
RESULTS = REPO / "bench" / "results"
WRK_SCRIPT = REPO / "bench" / "wrk" / "bench.lua"
GUNICORN_CONF = REPO / "deploy" / "gunicorn.conf.py"


def workdir() -> Path:
    """One temp folder per run for static files, media, logs and pid files."""
    path = Path(tempfile.mkdtemp(prefix="jewelry-bench."))
    (path / "media").mkdir()
    return path


def workdir_tidy(work: Path) -> None:
    """Drop the bulky parts of a finished run's folder (static files, media); keep the logs."""
    for part in ("static", "media"):
        shutil.rmtree(work / part, ignore_errors=True)


def django_env(work: Path, **extra: str) -> dict[str, str]:
    """Environment for this process and for gunicorn: bench settings on the throwaway Postgres."""
    if not os.environ.get("DJANGO_DATABASE_URL", "").startswith("postgres"):
        raise SystemExit("bench: run under scripts/with-postgres.sh (DJANGO_DATABASE_URL must point at Postgres)")
    env = {
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "BENCH_STATIC_ROOT": str(work / "static"),
        "DJANGO_MEDIA_ROOT": str(work / "media"),
        "PYTHONPATH": str(REPO),
        "PYTHONUNBUFFERED": "1",
    }
    env.update(extra)
    return env


def django_setup(work: Path, **extra: str) -> None:
    """Configure Django in this process, migrate and collect static files (quietly)."""
    os.environ.update(django_env(work, **extra))
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    import django
    from django.core.management import call_command

    django.setup()
    # The harness's own Django calls (loading, query counts) would flood the report with access lines.
    logging.disable(logging.INFO)
    call_command("migrate", "--noinput", verbosity=0)
    # prod keeps its cache in the database by default (issue #6); harmless when it does not.
    call_command("createcachetable", verbosity=0)
    call_command("collectstatic", "--noinput", verbosity=0)


@dataclass
class Gunicorn:
    """One gunicorn master on 127.0.0.1 started by us; stop() sends TERM to that PID only."""

    work: Path
    name: str = "app"
    workers: int = 2
    port: int = field(default_factory=free_port)
    extra_args: tuple[str, ...] = ()
    extra_env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.work / f"gunicorn-{self.name}.log"

    def start(self, *, ready_path: str = "/__bench__/reference/", timeout: float = 60) -> "Gunicorn":
        args = [str(VENV_BIN / "gunicorn")]
        if GUNICORN_CONF.exists():
            args += ["-c", str(GUNICORN_CONF)]
        args += [
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(self.workers),
            "--worker-class",
            "sync",
            "--pid",
            str(self.work / f"gunicorn-{self.name}.pid"),
            *self.extra_args,
            "jewelry_site.wsgi:application",
        ]
        log = self.log_path.open("ab")
        env = {**os.environ, **self.extra_env}
        self.process = subprocess.Popen(args, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        wait_until(
            lambda: http_status(self.url + ready_path) == 200,
            timeout=timeout,
            what=f"gunicorn {self.name}",
            process=self.process,
        )
        return self

    def worker_pids(self) -> list[int]:
        return child_pids(self.process.pid) if self.process else []

    def signal(self, sig: int) -> None:
        if self.process and self.process.poll() is None:
            os.kill(self.process.pid, sig)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def __enter__(self) -> "Gunicorn":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def child_pids(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def http_status(url: str, *, timeout: float = 2.0) -> int:
    """Status of a GET without following redirects; 0 when the server did not answer."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(url, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


def wrk(
    url: str,
    *,
    seconds: float,
    connections: int = 8,
    threads: int = 2,
    env: dict | None = None,
    headers: dict[str, str] | None = None,
) -> dict:
    """Run wrk for a bounded time against one URL on loopback; return the JSON line bench.lua prints."""
    if not url.startswith("http://127.0.0.1:"):
        raise ValueError("wrk targets loopback only")
    wrk_bin = shutil.which("wrk") or "/usr/bin/wrk"
    args = [
        wrk_bin,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "5s",
        "--latency",
        "-s",
        str(WRK_SCRIPT),
        *[arg for name, value in (headers or {}).items() for arg in ("-H", f"{name}: {value}")],
        url,
    ]
    completed = subprocess.run(
        args, capture_output=True, text=True, timeout=seconds + 30, env={**os.environ, **(env or {})}, check=False
    )
    match = re.search(r"^BENCH_JSON (\{.*\})$", completed.stdout, re.MULTILINE)
    if not match:
        raise RuntimeError(f"wrk printed no result (exit {completed.returncode}): {completed.stdout}{completed.stderr}")
    result = json.loads(match.group(1))
    duration = result["duration_us"] / 1e6
    result["rps"] = result["requests"] / duration if duration else 0.0
    result["socket_errors"] = sum(v for k, v in result["errors"].items() if k != "status")
    return result


def csrf_secret() -> str:
    """A CSRF secret a client may choose itself: Django accepts a 32-character alphanumeric cookie
    when the same value comes back in the header or form, which is all a load client needs."""
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(32))


class FormParser(HTMLParser):
    """Collects <form> elements with their fields, enough to fill checkout and admin forms."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict] = []
        self._select: dict | None = None
        self._textarea: dict | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append(
                {"action": a.get("action") or "", "method": (a.get("method") or "get").lower(), "fields": []}
            )
            return
        if not self.forms:
            return
        fields = self.forms[-1]["fields"]
        if tag == "input" and a.get("name"):
            fields.append(
                {
                    "tag": "input",
                    "type": (a.get("type") or "text").lower(),
                    "name": a["name"],
                    "value": a.get("value") or "",
                    "checked": "checked" in a,
                    "required": "required" in a,
                }
            )
        elif tag == "select" and a.get("name"):
            self._select = {
                "tag": "select",
                "name": a["name"],
                "options": [],
                "selected": None,
                "required": "required" in a,
            }
            fields.append(self._select)
        elif tag == "option" and self._select is not None:
            value = a.get("value", "")
            self._select["options"].append(value)
            if "selected" in a:
                self._select["selected"] = value
        elif tag == "textarea" and a.get("name"):
            self._textarea = {"tag": "textarea", "name": a["name"], "value": "", "required": "required" in a}
            fields.append(self._textarea)

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea["value"] += data


def forms_in(html: str) -> list[dict]:
    parser = FormParser()
    parser.feed(html)
    return parser.forms


GUESSES = [
    (("email",), "bench.shopper@example.com"),
    (("first_name", "given"), "Ada"),
    (("last_name", "family", "surname"), "Lovelace"),
    (("full_name", "name"), "Ada Lovelace"),
    (("line1", "address1", "address_1", "street", "address"), "1 Bench Street"),
    (("line2", "address2", "address_2"), ""),
    (("city", "town"), "London"),
    (("county", "region", "state"), ""),
    (("postcode", "postal", "zip"), "SW1A 1AA"),
    (("phone", "tel"), "020 7946 0000"),
    (("gift", "message", "note", "engraving"), ""),
]


def fill_form(form: dict, *, email: str | None = None) -> dict[str, str]:
    """Plausible values for every field of a shopper form (checkout), keeping hidden values as given."""
    data: dict[str, str] = {}
    for f in form["fields"]:
        name, lowered = f["name"], f["name"].lower()
        if f["tag"] == "select":
            options = [o for o in f["options"] if o]
            preferred = [o for o in options if o.upper() in ("GB", "UK", "STANDARD")]
            data[name] = f["selected"] or (preferred or options or [""])[0]
            continue
        if f["tag"] == "input" and f["type"] in ("submit", "button", "image", "reset", "file"):
            continue
        if f["tag"] == "input" and f["type"] == "hidden":
            data[name] = f["value"]
            continue
        if f["tag"] == "input" and f["type"] == "radio":
            if name not in data or f["checked"]:
                data[name] = f["value"]
            continue
        if f["tag"] == "input" and f["type"] == "checkbox":
            if f["checked"] or f["required"]:
                data[name] = f["value"] or "on"
            continue
        value = f.get("value") or ""
        if not value:
            for keys, guess in GUESSES:
                if any(k in lowered for k in keys):
                    value = guess
                    break
            else:
                value = "Bench" if f.get("required") else ""
        if "email" in lowered and email:
            value = email
        data[name] = value
    return data


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)
