"""Health probes for the load balancer and deploy scripts.

``/healthz``: the process is up and serving (never touches the database), so a slow database
does not make the balancer kill healthy workers. ``/readyz``: the database answers within a short
statement timeout and every migration is applied; a deploy waits for it before taking traffic. Its
answer names the release (the commit deploy/release.sh wrote to ``REVISION``), so a deploy or a
rollback can tell which code is serving.
Both are answered by ``HealthCheckMiddleware`` ahead of the HTTPS redirect and the Host check.
"""

import functools
import logging
import threading
import time
from pathlib import Path

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, JsonResponse

logger = logging.getLogger("shop.health")

# The migration check reads every migration file: remember its answer briefly so probes stay fast.
MIGRATION_CHECK_TTL_SECONDS = 30.0
_migration_cache: dict[str, tuple[float, list[str]]] = {}
_migration_lock = threading.Lock()


@functools.cache
def release_revision() -> str:
    """The commit this process serves: the REVISION file of a release, or "checkout" in a source tree."""
    try:
        revision = (Path(settings.BASE_DIR) / "REVISION").read_text().strip()
    except OSError:
        return "checkout"
    return revision[:40] or "checkout"


def _no_store(response: JsonResponse) -> JsonResponse:
    response["Cache-Control"] = "no-store"
    return response


def healthz(request: HttpRequest) -> JsonResponse:
    """The process is alive; deliberately independent of the database."""
    return _no_store(JsonResponse({"status": "ok"}))


def _ping(alias: str, timeout_ms: int) -> None:
    connection = connections[alias]
    with transaction.atomic(using=alias), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # SET LOCAL: the limit ends with this transaction and never leaks into app queries.
            cursor.execute("SET LOCAL statement_timeout = %s", [timeout_ms])
        cursor.execute("SELECT 1")
        cursor.fetchone()


def pending_migrations(alias: str = DEFAULT_DB_ALIAS) -> list[str]:
    """Names of unapplied migrations, cached for MIGRATION_CHECK_TTL_SECONDS per process."""
    now = time.monotonic()
    cached = _migration_cache.get(alias)
    if cached and now - cached[0] < MIGRATION_CHECK_TTL_SECONDS:
        return cached[1]
    with _migration_lock:
        executor = MigrationExecutor(connections[alias])
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        pending = [f"{migration.app_label}.{migration.name}" for migration, _backwards in plan]
        _migration_cache[alias] = (now, pending)
    return pending


def clear_migration_cache() -> None:
    _migration_cache.clear()


def readyz(request: HttpRequest) -> JsonResponse:
    """Ready for traffic: the database answers and no migration is pending (503 otherwise)."""
    alias = DEFAULT_DB_ALIAS
    timeout_ms = getattr(settings, "SHOP_READYZ_DB_TIMEOUT_MS", 2000)
    started = time.perf_counter()
    try:
        _ping(alias, timeout_ms)
        pending = pending_migrations(alias)
    except Exception as exc:
        # The class name is enough to act on; the message could carry a host name or user.
        logger.warning("readyz_database_unavailable", extra={"event": "readyz_failed", "error": type(exc).__name__})
        # A broken connection must not be reused by the next probe.
        connections[alias].close_if_unusable_or_obsolete()
        return _no_store(JsonResponse({"status": "unavailable", "database": "error"}, status=503))
    duration_ms = round((time.perf_counter() - started) * 1000, 1)
    if pending:
        logger.warning("readyz_pending_migrations", extra={"event": "readyz_failed", "pending": len(pending)})
        return _no_store(
            JsonResponse({"status": "unavailable", "database": "ok", "pending_migrations": len(pending)}, status=503)
        )
    body = {"status": "ok", "database": "ok", "duration_ms": duration_ms, "release": release_revision()}
    return _no_store(JsonResponse(body))
