"""The SQLite lane: `make run`'s own settings (jewelry_site.settings.dev) under pytest, unchanged but
for where the throwaway database file goes. Fails loudly if the environment moved it off the defaults."""

import os
import tempfile
from pathlib import Path

from jewelry_site.settings.dev import *  # noqa: F403
from jewelry_site.settings.dev import DATABASES, STORAGES

if DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":
    raise SystemExit("the SQLite lane runs on the dev defaults: unset DJANGO_DATABASE_URL (`make test` does)")
if STORAGES["default"]["BACKEND"] != "django.core.files.storage.FileSystemStorage":
    raise SystemExit("the SQLite lane keeps photos on local disk: unset DJANGO_AWS_STORAGE_BUCKET_NAME")

# A real file (as `make run` has), never the shared-cache memory database Django would pick for tests:
# the lane is about SQLite's file locking between connections.
DATABASES["default"]["TEST"] = {"NAME": str(Path(tempfile.gettempdir()) / f"jewelry-sqlite-lane-{os.getpid()}.db")}
