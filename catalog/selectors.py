"""Read-only queries for the storefront. Each returns what a page shows in a fixed number of queries."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.db.models import Aggregate, CharField, Exists, F, IntegerField, OuterRef, Subquery, Value

from .models import Category, Collection, Product, ProductImage, ProductQuerySet, ProductVariant
from .search import SearchPlan, search_plan, search_products, uses_full_text_search

SORT_NEWEST = "newest"
SORT_PRICE_ASC = "price-asc"
SORT_PRICE_DESC = "price-desc"
SORT_RELEVANCE = "relevance"
_ORDERINGS = {
    SORT_NEWEST: ("-created_at", "-pk"),
    SORT_PRICE_ASC: ("price_from", "-created_at", "-pk"),
    # Listed products always have a price_from, so NULL placement does not matter; a plain DESC lets
    # Postgres read the price index backwards.
    SORT_PRICE_DESC: (F("price_from").desc(), "-created_at", "-pk"),
}


@dataclass(frozen=True)
class ProductFilters:
    """Validated shop filters (built by ``forms.ProductFilterForm.filters``)."""

    q: str = ""
    category_ids: frozenset[int] | None = None
    metals: tuple[str, ...] = ()
    gemstones: tuple[str, ...] = ()
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    sort: str = SORT_NEWEST
    collection_id: int | None = None


# --- Categories -------------------------------------------------------------------------
_CATEGORY_FIELDS = ("id", "name", "slug", "parent_id", "description", "seo_description", "position", "is_active")
_COLLECTION_FIELDS = ("id", "name", "slug", "description", "is_active")


def navigation_list() -> tuple[list[Category], list[Collection]]:
    """Every active category (in shop order) and collection (by name), in ONE query: the header menu
    shows both on every page, so collections cost no query of their own (a UNION ALL of both tables)."""
    text, number = CharField(), IntegerField()
    categories = (
        Category.objects.on_sale()  # a sub-category of a switched-off category is hidden with it
        .order_by()  # SQLite refuses ORDER BY inside a UNION's parts; the whole is ordered below
        .annotate(kind=Value(0, output_field=number))
        .values_list("kind", *_CATEGORY_FIELDS)
    )
    collections = (
        Collection.objects.filter(is_active=True)
        .order_by()
        .annotate(
            kind=Value(1, output_field=number),
            no_parent=Value(None, output_field=number),
            no_seo=Value("", output_field=text),
            no_position=Value(0, output_field=number),
        )
        .values_list("kind", "id", "name", "slug", "no_parent", "description", "no_seo", "no_position", "is_active")
    )
    rows = categories.union(collections, all=True).order_by("kind", "position", "name", "id")
    found: tuple[list[Category], list[Collection]] = ([], [])
    for kind, *values in rows:
        if kind == 0:
            found[0].append(Category.from_db(None, _CATEGORY_FIELDS, values))
        else:
            row = dict(zip(_CATEGORY_FIELDS, values, strict=True))
            found[1].append(Collection.from_db(None, _COLLECTION_FIELDS, [row[f] for f in _COLLECTION_FIELDS]))
    return found


def category_list() -> list[Category]:
    """Every active category, in shop order (a small table: the tree is worked out in Python)."""
    return list(Category.objects.on_sale())


def category_list_for_request(
    request, *, categories: list[Category] | None = None, collections: list[Collection] | None = None
) -> list[Category]:
    """The active categories once per request (with the collections, in the same query): the header
    navigation and the page share them.

    A view that already holds the lists (the product page reads them from the catalogue cache) passes
    them so the rest of the request uses them instead of querying."""
    cached = getattr(request, "_shop_categories", None) if categories is None else categories
    if cached is None or (collections is None and getattr(request, "_shop_collections", None) is None):
        cached, collections = navigation_list()
    if request is not None:
        request._shop_categories = cached
        if collections is not None:
            request._shop_collections = collections
    return cached


def collection_list_for_request(request) -> list[Collection]:
    """The active collections, read with the categories (see ``category_list_for_request``)."""
    if getattr(request, "_shop_collections", None) is None:
        category_list_for_request(request)
    return getattr(request, "_shop_collections", None) or []


def category_roots(*, categories: list[Category]) -> list[Category]:
    return [c for c in categories if c.parent_id is None]


def category_descendant_ids(*, category: Category, categories: list[Category]) -> frozenset[int]:
    """The category and all its active descendants, so a parent's page lists its children's pieces."""
    children: dict[int, list[int]] = {}
    for c in categories:
        if c.parent_id is not None:
            children.setdefault(c.parent_id, []).append(c.pk)
    found, todo = set(), [category.pk]
    while todo:
        pk = todo.pop()
        if pk not in found:  # guards against a cycle typed into the admin
            found.add(pk)
            todo.extend(children.get(pk, ()))
    return frozenset(found)


def category_ancestors(*, category: Category, categories: list[Category]) -> list[Category]:
    """Parents of ``category``, root first (for breadcrumbs)."""
    by_pk = {c.pk: c for c in categories}
    chain: list[Category] = []
    parent_id = category.parent_id
    while parent_id in by_pk and by_pk[parent_id] not in chain:
        chain.insert(0, by_pk[parent_id])
        parent_id = by_pk[parent_id].parent_id
    return chain


# --- Products -----------------------------------------------------------------------------
class _DistinctMetals(Aggregate):
    """The distinct metals of a group of variants as one comma-separated string (Postgres and SQLite)."""

    function = "STRING_AGG"
    template = "%(function)s(DISTINCT %(expressions)s, ',')"
    output_field = CharField()

    def as_sqlite(self, compiler, connection, **extra_context):
        return self.as_sql(
            compiler, connection, function="GROUP_CONCAT", template="%(function)s(DISTINCT %(expressions)s)"
        )


def _cards() -> ProductQuerySet:
    """``for_listing()`` plus ``variant_metals``: every metal a card's piece can be bought in.

    A correlated subquery like ``stock_total``: evaluated for the page of cards only, no extra query."""
    metals = (
        ProductVariant.objects.filter(product=OuterRef("pk"), is_active=True)
        .order_by()
        .values("product")
        .annotate(metals=_DistinctMetals("metal"))
        .values("metals")
    )
    return Product.objects.for_listing().annotate(variant_metals=Subquery(metals, output_field=CharField()))


def featured_products(*, limit: int) -> list[Product]:
    return list(_cards().filter(is_featured=True).order_by("-created_at", "-pk")[:limit])


def new_products(*, limit: int) -> list[Product]:
    return list(_cards().order_by("-created_at", "-pk")[:limit])


def popular_products(*, limit: int) -> list[Product]:
    """Pieces to offer when a search finds nothing: featured and in stock first, then the newest."""
    in_stock = Exists(ProductVariant.objects.filter(product=OuterRef("pk"), is_active=True, stock__gt=0))
    return list(_cards().order_by(in_stock.desc(), "-is_featured", "-created_at", "-pk")[:limit])


def product_list(*, filters: ProductFilters, search: SearchPlan | None = None) -> ProductQuerySet:
    """Cards for the shop, category and collection pages, filtered and sorted; the caller paginates.

    The metal filter matches any metal an active variant is sold in (what can be bought), not only the
    product's main metal. Search results list sold-out pieces after the available ones."""
    products = _cards()
    if filters.category_ids is not None:
        products = products.filter(category_id__in=filters.category_ids)
    if filters.collection_id is not None:
        products = products.filter(collections=filters.collection_id)
    if filters.metals:
        products = products.filter(
            Exists(ProductVariant.objects.filter(product=OuterRef("pk"), is_active=True, metal__in=filters.metals))
        )
    if filters.gemstones:
        products = products.filter(gemstone__in=filters.gemstones)
    # Price filters apply to the "from" price a card shows, so results agree with what is seen.
    if filters.min_price is not None:
        products = products.filter(price_from__gte=filters.min_price)
    if filters.max_price is not None:
        products = products.filter(price_from__lte=filters.max_price)
    ordering = _ORDERINGS.get(filters.sort, _ORDERINGS[SORT_NEWEST])
    if not filters.q:
        return products.order_by(*ordering)
    if search is None:
        search = search_plan(filters.q)
    ranked = filters.sort == SORT_RELEVANCE and uses_full_text_search()
    products = search_products(products, plan=search, rank=ranked)
    available = Exists(ProductVariant.objects.filter(product=OuterRef("pk"), is_active=True, stock__gt=0))
    if ranked:
        ordering = ("-search_rank", "-created_at", "-pk")
    return products.order_by(available.desc(), *ordering)


class SearchTooBroadError(Exception):
    """A search's queries ran past ``SHOP_SEARCH_TIMEOUT_MS`` and Postgres cancelled them."""


@contextmanager
def search_limits() -> Iterator[None]:
    """Run a search's queries in one transaction that (Postgres only, this transaction only):

    - stops each statement after ``SHOP_SEARCH_TIMEOUT_MS`` (``statement_timeout``; 0 = no limit) and
      raises ``SearchTooBroadError`` instead;
    - plans with sequential scans disabled. The full-text index is on an expression, to_tsvector over
      the whole description, which the planner costs like a cheap operator: at 10,000 products it
      chose to scan the table and recompute it for every row (about 1 s for "ring") over the GIN
      index (a few ms). With seq scans off, every table with a usable index is read through it;
      those without one (the variants' metal) are still scanned;
    - without JIT: the penalty that disables seq scans (cost 1e10) would pass JIT's cost threshold
      and spend seconds compiling a query that runs in milliseconds.

    SQLite has none of these: there the block runs unbounded (``make run`` only)."""
    if connection.vendor != "postgresql":
        yield
        return
    wanted = {
        "statement_timeout": f"{max(0, int(settings.SHOP_SEARCH_TIMEOUT_MS))}ms",
        "enable_seqscan": "off",
        "jit": "off",
    }
    # Inside a transaction already (a test's): no savepoint, whose RELEASE would keep the SET LOCAL
    # anyway; the settings are put back at the end instead.
    nested = connection.in_atomic_block
    try:
        with transaction.atomic(savepoint=not nested):
            with connection.cursor() as cursor:
                # set_config(..., true) is SET LOCAL: it ends with this transaction, so a persistent
                # connection never carries it into the next request. One round trip for all three.
                names = list(wanted)
                cursor.execute(
                    "SELECT "
                    + ", ".join("current_setting(%s)" for _ in names)
                    + ", "
                    + ", ".join("set_config(%s, %s, true)" for _ in names),
                    [*names, *(x for name in names for x in (name, wanted[name]))],
                )
                before = dict(zip(names, cursor.fetchone()[: len(names)], strict=True))
            yield
            if nested:
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT " + ", ".join("set_config(%s, %s, true)" for _ in before),
                        [x for item in before.items() for x in item],
                    )
    except OperationalError as error:
        if getattr(error.__cause__, "sqlstate", None) == "57014":  # query_canceled
            raise SearchTooBroadError from error
        raise


def product_detail(*, slug: str) -> Product | None:
    """A sellable product with ``active_variants`` and ``ordered_images``, in two small queries; None if
    there is no such product or nothing of it is for sale.

    The active variants come with their product and its category joined in (one row each, a handful
    per product), then the photos. Plain queries rather than ``for_listing()`` with prefetches: the
    page needs no stock subquery and the prefetch machinery cost more than the queries (issue #7)."""
    variants = list(
        ProductVariant.objects.sellable()  # the one rule: variant, product, category and its ancestors
        .filter(product__slug=slug, product__price_from__isnull=False)  # the same rule as the shop's lists
        .select_related("product__category")
    )
    if not variants:
        return None
    product = variants[0].product
    for variant in variants:
        variant.product = product  # one shared instance: the page and its variants agree
    product.active_variants = variants
    product.ordered_images = list(ProductImage.objects.filter(product_id=product.pk).order_by("position", "pk"))
    return product


def category_newest_products(*, category_id: int, limit: int) -> list[Product]:
    """The newest pieces of one category (a product page's "You may also like", minus the page's own)."""
    return list(_cards().filter(category_id=category_id).order_by("-created_at", "-pk")[:limit])


def sitemap_products() -> ProductQuerySet:
    """The products that have a page (same rule as the shop: active, with an active variant)."""
    return Product.objects.active().filter(price_from__isnull=False).order_by("pk")


# --- Collections ------------------------------------------------------------------------------
def collection_list() -> list[Collection]:
    """Every active collection, by name (for the menu, the sitemap and the collection pages)."""
    return list(Collection.objects.filter(is_active=True).order_by("name", "pk"))


def sitemap_collections() -> list[Collection]:
    return collection_list()
