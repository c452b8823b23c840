"""Helpers for the deploy tests: secrets in the moto server, a production-like environment for
subprocesses (manage.py, gunicorn), the shop in a real gunicorn under production settings, and a
JSON log capture."""

import json
import os
import secrets
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import boto3
import pytest
import requests

from loopback import free_port, port_open, stop, wait_until

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
PROD_HOST = "shop.example.com"


def secrets_client(endpoint: str, **credentials):
    return boto3.client(
        "secretsmanager",
        endpoint_url=endpoint,
        region_name="eu-west-2",
        aws_access_key_id=credentials.get("key", "testing"),
        aws_secret_access_key=credentials.get("secret", "testing"),
    )


def create_secret(endpoint: str, value: str | bytes, *, prefix: str = "jewelry") -> str:
    """A uniquely named secret in the (session-wide) moto server; returns its name."""
    name = f"{prefix}/{uuid.uuid4().hex[:12]}"
    field = "SecretBinary" if isinstance(value, bytes) else "SecretString"
    secrets_client(endpoint).create_secret(Name=name, **{field: value})
    return name


def strong_secret_key() -> str:
    return secrets.token_urlsafe(60)


def database_url(name: str) -> str:
    """DJANGO_DATABASE_URL of the throwaway cluster, pointing at database ``name``."""
    parts = urlsplit(os.environ["DJANGO_DATABASE_URL"])
    return urlunsplit(parts._replace(path=f"/{name}"))


def pg_env() -> dict[str, str]:
    """libpq variables for the cluster in DJANGO_DATABASE_URL (scripts/with-postgres.sh sets them too)."""
    parts = urlsplit(os.environ["DJANGO_DATABASE_URL"])
    env = {**os.environ, "PGHOST": parts.hostname or "127.0.0.1", "PGPORT": str(parts.port or 5432)}
    if parts.username:
        env["PGUSER"] = parts.username
    if parts.password:
        env["PGPASSWORD"] = parts.password
    return env


def prod_env(*, database_url: str, moto: str | None = None, **extra: str) -> dict[str, str]:
    """Environment for a subprocess under production settings (no DJANGO_* leaking in from ours)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "GUNICORN_", "AWS_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="jewelry_site.settings.prod",
        DJANGO_DATABASE_URL=database_url,
        DJANGO_CONN_MAX_AGE="0",
        # Subprocesses share no memory with the tests; a per-process cache is enough for them.
        DJANGO_CACHE_URL="locmemcache://",
        # prod requires an SMTP server; these subprocesses send no mail (reserved name, never resolves).
        DJANGO_EMAIL_HOST="smtp.invalid",
        # prod refuses the repo's placeholder bank account (issue #15).
        DJANGO_SHOP_BANK_TRANSFER_DETAILS="Test Shop Ltd · Sort code 11-22-33 · Account 12345678",
        PYTHONUNBUFFERED="1",
    )
    if moto:
        env.update(
            AWS_ENDPOINT_URL=moto,
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_DEFAULT_REGION="eu-west-2",
        )
    env.update(extra)
    return env


def run_manage(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PYTHON, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )


@dataclass
class ProdServer:
    """A gunicorn started by ``prod_gunicorn``: its URL and the files its stdout and stderr go to."""

    url: str
    stdout: Path
    stderr: Path
    secret_key: str = ""

    def get(self, path: str, *, https: bool = True, host: str = PROD_HOST, **headers: str) -> requests.Response:
        """GET as the load balancer would send it (X-Forwarded-Proto: https unless ``https=False``)."""
        headers = {"Host": host, **headers}
        if https:
            headers["X-Forwarded-Proto"] = "https"
        return requests.get(self.url + path, headers=headers, allow_redirects=False, timeout=15)


@contextmanager
def prod_gunicorn(env: dict[str, str], tmp: Path, *, secret_key: str = "") -> Iterator[ProdServer]:
    """The real entry point (``gunicorn -c deploy/gunicorn.conf.py``) under ``env`` (see ``prod_env``;
    GUNICORN_BIND's first address must be 127.0.0.1:PORT), stdout and stderr to files in ``tmp``;
    yielded once the port accepts connections, stopped by its PID on exit."""
    port = int(env["GUNICORN_BIND"].split(",")[0].removeprefix("127.0.0.1:"))
    out, err = tmp / "stdout.log", tmp / "stderr.log"
    with out.open("w") as stdout, err.open("w") as stderr:
        process = subprocess.Popen(
            [GUNICORN, "-c", "deploy/gunicorn.conf.py"], cwd=REPO, env=env, stdout=stdout, stderr=stderr
        )
    try:
        wait_until(port_open(port), timeout=60, what="gunicorn", process=process)
        yield ProdServer(f"http://127.0.0.1:{port}", out, err, secret_key)
    finally:
        stop(process)


def prod_secrets_env(
    *, moto: str, database: str, db_password: str, app_config: dict | None = None, **extra: str
) -> tuple[dict[str, str], str]:
    """``prod_env`` as on an instance: DB_PASSWORD and APP_CONFIG (a fresh SECRET_KEY, ALLOWED_HOSTS
    PROD_HOST, then ``app_config``) created in moto and named by their ids; returns it and the SECRET_KEY."""
    secret_key = strong_secret_key()
    # The throwaway cluster trusts local connections, so any password works; the point is the path.
    db_secret = create_secret(moto, json.dumps({"username": pg_env()["PGUSER"], "password": db_password}))
    app_secret = create_secret(
        moto, json.dumps({"SECRET_KEY": secret_key, "ALLOWED_HOSTS": PROD_HOST, **(app_config or {})})
    )
    env = prod_env(
        database_url=database_url(database),
        moto=moto,
        DJANGO_DB_PASSWORD_SECRET_ID=db_secret,
        DJANGO_APP_CONFIG_SECRET_ID=app_secret,
        **extra,
    )
    return env, secret_key


@contextmanager
def prod_gunicorn_with_secrets(
    *, moto: str, database: str, tmp: Path, app_config: dict, db_password: str, workers: int, bind: str = ""
) -> Iterator[ProdServer]:
    """The shop as on an instance (``prod_secrets_env``) in ``prod_gunicorn``, serving ``database`` on a
    free loopback port plus ``bind`` (e.g. ``unix:PATH``), static files collected into ``tmp``."""
    env, secret_key = prod_secrets_env(
        moto=moto,
        database=database,
        app_config=app_config,
        db_password=db_password,
        DJANGO_STATIC_ROOT=str(tmp / "static"),
        GUNICORN_BIND=",".join(filter(None, [f"127.0.0.1:{free_port()}", bind])),
        GUNICORN_WORKERS=str(workers),
    )
    collected = run_manage("collectstatic", "--noinput", "-v0", env=env)
    assert collected.returncode == 0, collected.stderr
    with prod_gunicorn(env, tmp, secret_key=secret_key) as server:
        yield server


@pytest.fixture(scope="session")
def test_database(django_db_setup, django_db_blocker) -> str:
    """The name of pytest-django's test database, for servers started in subprocesses."""
    from django.db import connection

    with django_db_blocker.unblock():
        return connection.settings_dict["NAME"]


def json_lines(text: str) -> list[dict]:
    """Every non-empty line parsed as JSON (fails the test on a line that is not JSON)."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]
