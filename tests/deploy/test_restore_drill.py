"""scripts/restore-drill.sh against the throwaway Postgres: dump, restore, migrate --check, row counts."""

import os
import re
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.deploy.conftest import PYTHON, REPO, database_url, pg_env

PGBIN = Path(os.environ.get("PGBIN") or "/usr/lib/postgresql/15/bin")
RESULT = re.compile(
    r"^restore-drill: OK tables=(?P<tables>\d+) rows=(?P<rows>\d+) dump_bytes=(?P<bytes>\d+) "
    r"dump_s=(?P<dump>[\d.]+) restore_s=(?P<restore>[\d.]+) check_s=(?P<check>[\d.]+) total_s=(?P<total>[\d.]+)$",
    re.MULTILINE,
)


def psql(*args: str) -> str:
    return subprocess.run(
        [str(PGBIN / "psql"), "-X", "-At", "-d", "postgres", *args],
        capture_output=True,
        text=True,
        check=True,
        env=pg_env(),
    ).stdout


@pytest.fixture
def source_db():
    """A separate database (not pytest-django's) with the schema migrated and some shop data."""
    name = f"drill_src_{uuid.uuid4().hex[:8]}"
    subprocess.run([str(PGBIN / "createdb"), name], check=True, env=pg_env())
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "jewelry_site.settings.dev",
        "DJANGO_DATABASE_URL": database_url(name),
    }
    try:
        subprocess.run([PYTHON, "manage.py", "migrate", "-v0"], cwd=REPO, env=env, check=True, timeout=180)
        script = (
            "from tests.factories import ProductVariantFactory, UserFactory; "
            "[ProductVariantFactory() for _ in range(40)]; [UserFactory() for _ in range(10)]"
        )
        subprocess.run([PYTHON, "manage.py", "shell", "-c", script], cwd=REPO, env=env, check=True, timeout=120)
        yield name
    finally:
        subprocess.run([str(PGBIN / "dropdb"), "--if-exists", name], check=True, env=pg_env())


def run_drill(database: str) -> subprocess.CompletedProcess:
    env = {**pg_env(), "PGBIN": str(PGBIN), "PYTHON": PYTHON}
    return subprocess.run(
        ["scripts/restore-drill.sh", database], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )


def test_drill_restores_and_counts_match(source_db):
    result = run_drill(source_db)
    print(result.stdout)  # the figures, visible with `pytest -s`
    assert result.returncode == 0, result.stdout + result.stderr
    figures = RESULT.search(result.stdout)
    assert figures, result.stdout
    # 40 variants + their 40 products and 40 categories + 10 users, at the very least.
    assert int(figures["rows"]) >= 130
    assert int(figures["tables"]) >= 10
    assert float(figures["total"]) >= float(figures["dump"])
    assert re.search(r"catalog_productvariant\s+40$", result.stdout, re.MULTILINE)
    # The restored copy is dropped afterwards.
    databases = psql("-c", "SELECT datname FROM pg_database").split()
    assert not [name for name in databases if name.startswith(f"{source_db}_restore_")]


def test_drill_fails_on_a_database_without_the_schema():
    name = f"drill_empty_{uuid.uuid4().hex[:8]}"
    subprocess.run([str(PGBIN / "createdb"), name], check=True, env=pg_env())
    try:
        result = run_drill(name)
    finally:
        subprocess.run([str(PGBIN / "dropdb"), "--if-exists", name], check=True, env=pg_env())
    assert result.returncode == 1
    assert "FAILED: the restored database has unapplied migrations" in result.stdout
