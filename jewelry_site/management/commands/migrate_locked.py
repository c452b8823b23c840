"""``createcachetable`` and ``migrate`` under one Postgres advisory lock: what deploy/release.sh runs.

With two or three instances, each instance's release.sh migrates the one database, and its flock is
per instance: two operators (or two instances released at once) would run the same migration twice
at the same time, the second failing halfway or running a data migration again. This command waits
for a session-level advisory lock (bounded by ``--wait``, default 600 s), runs both commands, and
releases it; the instance that comes second finds nothing left to do. It says when it has to wait.

SQLite (``make run``, one process) has no advisory locks: there it runs the commands directly.
"""

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, OperationalError, connections

# pg_advisory_lock(int4, int4): its own key space, apart from the single-bigint keys of orders/holds.py.
LOCK_KEY = (0x6A65776C, 1)  # "jewl", 1: the migration lock


class Command(BaseCommand):
    help = "createcachetable and migrate under a Postgres advisory lock (one instance at a time)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--wait", type=int, default=600, help="Seconds to wait for the lock (600).")
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS)

    def handle(self, *args, wait: int, database: str, verbosity: int, **options) -> None:
        connection = connections[database]
        options = {"database": database, "verbosity": verbosity, "interactive": False}
        if connection.vendor != "postgresql":
            call_command("createcachetable", database=database, verbosity=verbosity)
            call_command("migrate", **options)
            return
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", LOCK_KEY)
            if not cursor.fetchone()[0]:
                self.stdout.write(f"migrate_locked: another instance is migrating; waiting up to {wait} s for it")
                self.stdout.flush()
                cursor.execute("SELECT set_config('lock_timeout', %s, false)", [f"{wait * 1000}"])
                try:
                    cursor.execute("SELECT pg_advisory_lock(%s, %s)", LOCK_KEY)
                except OperationalError as error:
                    raise CommandError(f"the migration lock was not free within {wait} s: nothing migrated") from error
                finally:
                    cursor.execute("RESET lock_timeout")
        try:
            self.stdout.write("migrate_locked: lock taken")
            call_command("createcachetable", database=database, verbosity=verbosity)
            call_command("migrate", **options)
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", LOCK_KEY)
