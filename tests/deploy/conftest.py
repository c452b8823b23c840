"""Helpers for the deploy tests: secrets in the moto server, a production-like environment for
subprocesses (manage.py, gunicorn) and a JSON log capture."""

import io
import json
import logging
import os
import secrets
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import boto3
import pytest

from jewelry_site.logs import JsonFormatter

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


def json_lines(text: str) -> list[dict]:
    """Every non-empty line parsed as JSON (fails the test on a line that is not JSON)."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture
def json_log():
    """Root-logger capture through the real JsonFormatter; returns a function giving parsed lines."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield lambda: json_lines(stream.getvalue())
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)
