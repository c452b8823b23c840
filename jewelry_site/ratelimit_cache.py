"""An atomic counter store for django-ratelimit over the shop's own database (production without Redis).

Django's DatabaseCache counts by reading the value and then writing value + 1, so parallel requests on
several workers read the same count and each writes it back plus one: 30 sign-ups at once against a
limit of 10 let 11 or more through (and django-ratelimit's own check, E003, refuses it). Here each call
is ONE statement on ``shop_ratelimit_counter`` (jewelry_site.models.RateLimitCounter):

- ``add``: ``INSERT ... ON CONFLICT (key) DO UPDATE ... WHERE <expired> RETURNING``: a new or expired key
  starts at the given count; a live one is left alone and ``add`` says False;
- ``incr``: ``UPDATE ... SET count = count + delta WHERE <live> RETURNING count``: the row lock makes
  parallel increments queue, each sees its own total.

Both Postgres (production) and SQLite (3.35+, the embedded default) run these statements as they are.
Only integer values are stored: this is a counter store for the ``ratelimit`` cache alias, not a general
cache (``set`` of anything else is a TypeError). Run in autocommit (ATOMIC_REQUESTS is off), a count is
committed at once; inside someone's transaction it would commit or roll back with it.
"""

import time
from typing import Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT, BaseCache
from django.db import connections, router

from jewelry_site.models import RateLimitCounter

# Expired counters are deleted by the first insert after this many seconds (per process): the table
# holds about one row per client and limit and window, never a growing history.
CULL_EVERY_SECONDS = 60
# Never expires (timeout None): far beyond any window, and a plain number for both databases.
FOREVER = 1e18


class DatabaseCounterCache(BaseCache):
    """django-ratelimit's cache (``RATELIMIT_USE_CACHE = "ratelimit"``) when no Redis is configured."""

    def __init__(self, location: str, params: dict[str, Any]) -> None:
        super().__init__(params)
        self._culled_at = 0.0

    # --- plumbing ---------------------------------------------------------------------------------
    def _execute(self, sql: str, params: list[Any]) -> list[tuple]:
        connection = connections[router.db_for_write(RateLimitCounter)]
        table = connection.ops.quote_name(RateLimitCounter._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(sql.format(table=table), params)
            return cursor.fetchall() if cursor.description else []

    def _expires(self, timeout: float | None) -> float:
        """When the counter stops counting, in epoch seconds (BaseCache's: now + timeout; 0 is now - 1)."""
        expires = self.get_backend_timeout(timeout)
        return FOREVER if expires is None else expires

    @staticmethod
    def _count(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"DatabaseCounterCache stores counts (int), not {type(value).__name__}")
        return value

    def _cull(self) -> None:
        now = time.monotonic()
        if now - self._culled_at >= CULL_EVERY_SECONDS:
            self._culled_at = now
            self._execute("DELETE FROM {table} WHERE expires <= %s", [time.time()])

    # --- the cache API django-ratelimit uses (add, incr, get) and the rest of BaseCache ------------
    def add(self, key: str, value: Any, timeout: float | None = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        key = self.make_and_validate_key(key, version=version)
        self._cull()
        rows = self._execute(
            "INSERT INTO {table} (key, count, expires) VALUES (%s, %s, %s) "
            "ON CONFLICT (key) DO UPDATE SET count = excluded.count, expires = excluded.expires "
            "WHERE {table}.expires <= %s RETURNING key",
            [key, self._count(value), self._expires(timeout), time.time()],
        )
        return bool(rows)

    def incr(self, key: str, delta: int = 1, version: int | None = None) -> int:
        key = self.make_and_validate_key(key, version=version)
        rows = self._execute(
            "UPDATE {table} SET count = count + %s WHERE key = %s AND expires > %s RETURNING count",
            [self._count(delta), key, time.time()],
        )
        if not rows:
            raise ValueError(f"Key '{key}' not found")
        return rows[0][0]

    def get(self, key: str, default: Any = None, version: int | None = None) -> Any:
        key = self.make_and_validate_key(key, version=version)
        rows = self._execute("SELECT count FROM {table} WHERE key = %s AND expires > %s", [key, time.time()])
        return rows[0][0] if rows else default

    def set(self, key: str, value: Any, timeout: float | None = DEFAULT_TIMEOUT, version: int | None = None) -> None:
        key = self.make_and_validate_key(key, version=version)
        self._execute(
            "INSERT INTO {table} (key, count, expires) VALUES (%s, %s, %s) "
            "ON CONFLICT (key) DO UPDATE SET count = excluded.count, expires = excluded.expires",
            [key, self._count(value), self._expires(timeout)],
        )

    def touch(self, key: str, timeout: float | None = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        key = self.make_and_validate_key(key, version=version)
        rows = self._execute(
            "UPDATE {table} SET expires = %s WHERE key = %s AND expires > %s RETURNING key",
            [self._expires(timeout), key, time.time()],
        )
        return bool(rows)

    def delete(self, key: str, version: int | None = None) -> bool:
        key = self.make_and_validate_key(key, version=version)
        return bool(self._execute("DELETE FROM {table} WHERE key = %s RETURNING key", [key]))

    def clear(self) -> None:
        self._execute("DELETE FROM {table}", [])
