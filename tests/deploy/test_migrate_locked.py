"""manage.py migrate_locked (issue #22): instances releasing at once migrate one at a time.

A real Postgres (the throwaway cluster, a database of its own) and real manage.py processes; the
"other instance" is a second connection holding the same advisory lock, as a migrating instance
does. The full two-instance order (one migrates, the other finds nothing to do, both switch) runs in
the release rehearsal (test_release_rehearsal.py).
"""

import subprocess
import uuid
from pathlib import Path

import psycopg
import pytest

from jewelry_site.management.commands.migrate_locked import LOCK_KEY
from tests.deploy.conftest import PYTHON, REPO, database_url, pg_env
from tests.servers import wait_until

PGBIN = Path("/usr/lib/postgresql/15/bin")


@pytest.fixture
def fresh_database():
    name = f"migrate_lock_{uuid.uuid4().hex[:8]}"
    subprocess.run([str(PGBIN / "createdb"), name], check=True, env=pg_env())
    try:
        yield database_url(name)
    finally:
        subprocess.run([str(PGBIN / "dropdb"), "--force", "--if-exists", name], env=pg_env(), check=False)


def manage(url: str, *args: str, log: Path) -> subprocess.Popen:
    env = {**pg_env(), "PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "jewelry_site.settings.test"}
    env["DJANGO_DATABASE_URL"] = url
    with log.open("w") as out:
        return subprocess.Popen([PYTHON, "manage.py", *args], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)


def applied(url: str) -> int:
    with psycopg.connect(url.replace("postgres://", "postgresql://", 1)) as conn:
        exists = conn.execute("SELECT to_regclass('django_migrations') IS NOT NULL").fetchone()[0]
        return conn.execute("SELECT count(*) FROM django_migrations").fetchone()[0] if exists else 0


def test_a_second_instance_waits_for_the_first_and_then_finds_nothing_to_do(fresh_database, tmp_path):
    url = fresh_database
    other = psycopg.connect(url.replace("postgres://", "postgresql://", 1), autocommit=True)
    try:
        other.execute("SELECT pg_advisory_lock(%s, %s)", LOCK_KEY)  # an instance is migrating
        log = tmp_path / "waiting.log"
        waiting = manage(url, "migrate_locked", "--wait", "120", log=log)
        wait_until(lambda: "another instance is migrating" in log.read_text(), timeout=60, what="the wait message")
        assert waiting.poll() is None  # still waiting on the lock...
        assert applied(url) == 0  # ...and nothing migrated meanwhile
        other.execute("SELECT pg_advisory_unlock(%s, %s)", LOCK_KEY)
        assert waiting.wait(timeout=180) == 0, log.read_text()
    finally:
        other.close()
    assert "lock taken" in log.read_text()
    assert applied(url) > 20
    second = tmp_path / "second.log"
    assert manage(url, "migrate_locked", log=second).wait(timeout=120) == 0
    assert "No migrations to apply" in second.read_text()


def test_a_lock_never_freed_stops_it_within_its_wait_and_migrates_nothing(fresh_database, tmp_path):
    url = fresh_database
    with psycopg.connect(url.replace("postgres://", "postgresql://", 1), autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s, %s)", LOCK_KEY)
        log = tmp_path / "timeout.log"
        stuck = manage(url, "migrate_locked", "--wait", "1", log=log)
        assert stuck.wait(timeout=120) != 0
    assert "not free within 1 s: nothing migrated" in log.read_text()
    assert applied(url) == 0
