"""Local development: the embedded default that `make run` uses (SQLite, local media, console e-mail)."""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
# `make run` writes a random key into .env on its first run (scripts/dev-env.sh), so each checkout
# signs with its own; this published default serves only a bare `manage.py` without one. Prod has none.
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="dev-insecure-key-do-not-use-in-production")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
STORAGES = {
    # Local media unless DJANGO_AWS_STORAGE_BUCKET_NAME is set (then base picked S3; helper E).
    "default": STORAGES["default"],  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# At a terminal, readable log lines; JSON (the base default) when DJANGO_LOG_FORMAT=json.
LOGGING["handlers"]["console"]["formatter"] = env.str("DJANGO_LOG_FORMAT", default="text")  # noqa: F405

# SQLite, the embedded default: each transaction takes the write lock when it begins (IMMEDIATE)
# and waits up to `timeout` seconds for it. With SQLite's default (DEFERRED) two checkouts that both
# read and then write fail at once with "database is locked": SQLite cannot wait on a lock upgrade.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    DATABASES["default"].setdefault("OPTIONS", {}).update({"transaction_mode": "IMMEDIATE", "timeout": 20})  # noqa: F405
