"""Cached catalogue fragments (issue #7): rendered product grids keyed by a catalogue version.

One function changes the versions: ``catalog_cache_versions_bump``. catalog.signals calls it for every
save, delete and bulk write of a catalogue row (``catalog.models.CatalogueQuerySet`` makes update()
and bulk_create() heard like a save), and ``catalog.services.stock.variant_stock_move`` for stock sold
or returned; no other code needs to remember it (tests/catalog/test_write_paths.py walks every write
path). So a fragment is never served after the data under it changed: old entries are simply never
asked for again and expire. The version lives in Django's default cache, which production shares
between gunicorn workers and instances (a database table by default, Redis with DJANGO_CACHE_URL);
the fragments live in the "fragments" cache alias (each process's memory, or Redis when configured).

Stock moved by orders is finer-grained: each product has its own stock version, part of its product
page's key, so a sale re-renders that one page; the whole catalogue version changes only when a
product card's stock badge would change.

Fragments hold nothing per shopper (no CSRF token, no bag count): only HTML that every visitor of
the same URL sees.
"""

import hashlib
import uuid
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from django.core.cache import cache, caches
from django.db import DEFAULT_DB_ALIAS, connections, transaction

VERSION_KEY = "catalog:version"
STOCK_VERSION_KEY = "catalog:stock:{slug}"
# A product's stock version is made on the first view of its page (one cache write) and kept: an
# eviction is harmless (a fresh random one only means one more render of the page).
STOCK_VERSION_TIMEOUT = None
# Versions make stale entries unreachable; the timeout only bounds what time alone changes (the "New"
# badge) and frees space.
FRAGMENT_TIMEOUT = 300
CSRF_MARKER = "csrfmiddlewaretoken"


def _new_version() -> str:
    # Random, never a counter: if the version key is evicted, a fresh value cannot bring back
    # fragments stored under an earlier one.
    return uuid.uuid4().hex


def catalog_version() -> str:
    """The current catalogue version; read it before reading the data a fragment is made from."""
    version = cache.get(VERSION_KEY)
    if version is None:
        version = _new_version()
        if not cache.add(VERSION_KEY, version, timeout=None):
            version = cache.get(VERSION_KEY) or version
    return version


def _stock_key(slug: str) -> str:
    # Hashed: the slug comes from the URL, so its length is the visitor's choice.
    return STOCK_VERSION_KEY.format(slug=hashlib.sha256(slug.encode("utf-8", "backslashreplace")).hexdigest()[:40])


def product_page_versions(*, slug: str) -> tuple[str, str | None]:
    """(catalogue version, version of this product's page) from one cache read.

    The page version joins the catalogue version with the product's stock version, so either kind of
    change makes the cached page obsolete. It is None while the product has no stock version yet:
    the caller reads the product first and only then calls ``product_stock_version_start`` (so a
    request for a product that does not exist writes nothing to the cache)."""
    stock_key = _stock_key(slug)
    found = cache.get_many([VERSION_KEY, stock_key])
    catalogue = found.get(VERSION_KEY) or catalog_version()
    stock = found.get(stock_key)
    return catalogue, (f"{catalogue}.{stock}" if stock is not None else None)


def product_stock_version_start(*, slug: str, catalogue: str) -> str | None:
    """Give a product that has none a stock version; return its page version, or None if another
    request or a sale set one first (then what the caller read may be older: it must not be cached)."""
    stock = _new_version()
    if not cache.add(_stock_key(slug), stock, timeout=STOCK_VERSION_TIMEOUT):
        return None
    return f"{catalogue}.{stock}"


def catalog_cache_versions_bump(
    *, using: str = DEFAULT_DB_ALIAS, product_slugs: Iterable[str] | None = None, now: bool = True
) -> None:
    """Make obsolete the cached fragments that a catalogue write changed: the one way versions change.

    Without ``product_slugs``, every fragment: the catalogue version changes now (so later reads in
    this same transaction see the change) and, inside a transaction, once more after it commits. The
    bump after commit is the one that matters across processes: a request that read the old rows while
    the transaction was open may have stored a fragment under the first new version. One bump after
    commit is enough however many rows the transaction wrote (a CSV import writes hundreds).

    With ``product_slugs`` (stock that moved where no product card shows it), only those products'
    pages, after commit. ``now=False`` leaves out the immediate bump: callers holding the checkout's
    stock locks write nothing to the cache (with the database cache, that write would join their
    transaction and hold the version row's lock until it ends).
    """
    if product_slugs is not None:
        slugs = sorted(set(product_slugs))
        if slugs:
            transaction.on_commit(partial(_product_stock_versions_new, slugs=slugs), using=using, robust=True)
        return
    if not now:  # one stock move per order: no search for a pending bump
        transaction.on_commit(_AfterCommitBump(), using=using, robust=True)
        return
    _catalog_version_new()
    connection = connections[using]
    if connection.in_atomic_block and not _bump_pending(connection):
        transaction.on_commit(_AfterCommitBump(), using=using, robust=True)


def _product_stock_versions_new(*, slugs: list[str]) -> None:
    cache.set_many({_stock_key(slug): _new_version() for slug in slugs}, timeout=STOCK_VERSION_TIMEOUT)


def _catalog_version_new() -> None:
    cache.set(VERSION_KEY, _new_version(), timeout=None)


class _AfterCommitBump:
    """The catalogue version's bump once a transaction commits: one is enough however many rows it wrote."""

    def __init__(self) -> None:
        self.done = False

    def __call__(self) -> None:
        self.done = True
        _catalog_version_new()


def _bump_pending(connection) -> bool:
    # Entries of rolled-back savepoints are dropped by Django, so any entry left runs at commit. Done
    # ones are skipped: tests run callbacks early, inside a transaction that never commits.
    return any(isinstance(func, _AfterCommitBump) and not func.done for _, func, _ in connection.run_on_commit)


def fragment_key(name: str, *parts: Any, version: str | None = None) -> str:
    """A cache key for fragment ``name`` at ``version`` (default: the current one), varying on ``parts`` (hashed).

    A page that needs several fragments reads the version once and passes it, so all its keys agree
    and the version costs one cache read, not one per key."""
    digest = hashlib.sha256(repr(parts).encode("utf-8", "backslashreplace")).hexdigest()[:40]
    return f"catalog:{name}:{version or catalog_version()}:{digest}"


def _fragments():
    # Version in the shared default cache, fragments in their own alias (see settings CACHES).
    return caches["fragments"]


def fragment_get(key: str) -> Any | None:
    return _fragments().get(key)


def fragment_get_many(keys: dict[str, str]) -> dict[str, Any]:
    """The fragments found for ``{name: key}``, by name, in one cache read."""
    found = _fragments().get_many(list(keys.values()))
    return {name: found[key] for name, key in keys.items() if key in found}


def fragment_set(key: str, value: dict[str, Any]) -> None:
    """Store a fragment unless it carries a CSRF token (that would leak one shopper's token to others)."""
    if any(isinstance(v, str) and CSRF_MARKER in v for v in value.values()):
        return
    _fragments().set(key, value, FRAGMENT_TIMEOUT)


def fragment_get_or_make(key: str, make: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    value = fragment_get(key)
    if value is None:
        value = make()
        fragment_set(key, value)
    return value
