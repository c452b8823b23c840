"""scripts/restore-drill.sh against the throwaway Postgres: snapshot, counts, dump, restore into a
second database, migrate --check, row counts compared with the ones taken inside the dump's snapshot."""

import os
import re
import subprocess
import threading
import time
import uuid
from pathlib import Path

import psycopg
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


def test_drill_compares_with_the_dumps_snapshot_while_the_shop_keeps_writing(source_db):
    """Rows keep arriving in the source during the whole drill (a checkout-like writer): the counts
    come from the dump's own snapshot, so the drill passes, and it saw neither the first nor the last row."""
    conninfo = database_url(source_db).replace("postgres://", "postgresql://", 1)
    with psycopg.connect(conninfo, autocommit=True) as setup:
        setup.execute("CREATE TABLE drill_traffic (id bigserial PRIMARY KEY, at timestamptz DEFAULT now())")
    done = threading.Event()
    written = []

    def writer() -> None:
        # Bounded: at most 200,000 rows or 5 minutes, and it stops as soon as the drill has finished.
        deadline = time.monotonic() + 300
        with psycopg.connect(conninfo, autocommit=True) as conn:
            while not done.is_set() and len(written) < 200_000 and time.monotonic() < deadline:
                conn.execute("INSERT INTO drill_traffic DEFAULT VALUES")
                written.append(1)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        # The drill starts once the writer has written (the table is not empty in the snapshot).
        deadline = time.monotonic() + 30
        while not written and time.monotonic() < deadline:
            time.sleep(0.01)
        result = run_drill(source_db)
    finally:
        done.set()
        thread.join(timeout=30)
    print(result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr
    counted = re.search(r"public\.drill_traffic\s+(\d+)$", result.stdout, re.MULTILINE)
    assert counted, result.stdout
    with psycopg.connect(conninfo) as conn:
        final = conn.execute("SELECT count(*) FROM drill_traffic").fetchone()[0]
    # Writes landed before the snapshot and after it: the source moved on, the comparison did not.
    assert 0 < int(counted[1]) < final == len(written)
