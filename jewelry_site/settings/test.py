"""Test settings: the suite runs on a real Postgres that `make test` starts (DJANGO_DATABASE_URL)."""

from .base import *  # noqa: F403
from .base import env

DEBUG = False
SECRET_KEY = "test-only-secret-key-not-for-production"  # noqa: S105
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]

if not env.str("DJANGO_DATABASE_URL", default=""):
    raise SystemExit(
        "DJANGO_DATABASE_URL is not set: tests run on Postgres. Use `make test`, which starts a "
        "throwaway cluster, or point DJANGO_DATABASE_URL at a Postgres database you own."
    )

EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Order-placement rate limits (issue #11) out of the way: the concurrency tests post 20 orders from one
# address and e-mail. tests/payments sets the real-sized limits where it tests them.
SHOP_ORDER_RATE_PER_IP = SHOP_ORDER_RATE_PER_SESSION = SHOP_ORDER_RATE_PER_EMAIL = "1000/h"

# Rate-limit counters (issue #21): this one process's memory (LocMemCache's incr holds a lock, so threads
# count exactly), emptied before every test by tests/conftest.py; it adds no query to the pages' budgets.
# django-ratelimit's E003 ("not a shared cache") is silenced for that reason, here only. Tests that are
# about the shared counters (Redis, the database counters, gunicorn's workers) set their own.
CACHES["ratelimit"] = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "jewelry-ratelimit"}  # noqa: F405
SILENCED_SYSTEM_CHECKS = [*SILENCED_SYSTEM_CHECKS, "django_ratelimit.E003"]  # noqa: F405
# Search rate limit (issue #21) out of the way likewise: hypothesis and the listing tests search hundreds of
# times from one address. tests/catalog/test_search_bounds.py sets the real-sized limit where it tests it.
SHOP_SEARCH_RATE_PER_IP = "100000/m"
