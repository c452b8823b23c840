"""Keyword search: Postgres full-text search over the indexed expression, bounded and junk-proof."""

from decimal import Decimal

import pytest
from django.contrib.postgres.search import SearchQuery, SearchVector
from django.db import connection
from django.http import QueryDict
from django.urls import reverse

from catalog.forms import ProductFilterForm
from catalog.models import Product
from catalog.search import PRODUCT_SEARCH_DOCUMENT, search_products
from catalog.selectors import SORT_RELEVANCE, ProductFilters, product_list
from tests.factories import ProductFactory, ProductVariantFactory

pytestmark = pytest.mark.django_db

SHOP = reverse("catalog:product-list")
INDEX_NAME = "catalog_product_search_gin"
TRIGRAM_INDEX_NAME = "catalog_product_name_trgm"


def make_product(name: str, description: str = "A hand-finished piece.", **kwargs) -> Product:
    product = ProductFactory(name=name, description=description, **kwargs)
    ProductVariantFactory(product=product, price=Decimal("300.00"))
    return product


def found(response) -> set[str]:
    return {p.name for p in response.context["products"]}


def test_the_test_database_is_postgres_with_the_search_index():
    assert connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [INDEX_NAME])
        (definition,) = cursor.fetchone()
    assert "to_tsvector('english'::regconfig" in definition


def test_search_matches_name_and_description_with_stemming(client):
    make_product("Aurora Ring", "A solitaire diamond.")
    make_product("Celeste Pendant", "Hangs from a fine chain; pairs with our rings.")
    make_product("Pearl Studs", "Freshwater pearls.")

    assert found(client.get(SHOP, {"q": "rings"})) == {"Aurora Ring", "Celeste Pendant"}
    assert found(client.get(SHOP, {"q": "diamonds"})) == {"Aurora Ring"}
    assert found(client.get(SHOP, {"q": "PEARL"})) == {"Pearl Studs"}


def test_websearch_syntax_or_phrase_and_exclusion(client):
    make_product("Aurora Ring", "Yellow gold with a diamond.")
    make_product("Gold Chain", "Solid yellow gold links.")
    make_product("Silver Chain", "Sterling silver links.")

    assert found(client.get(SHOP, {"q": "chain -silver"})) == {"Gold Chain"}
    assert found(client.get(SHOP, {"q": '"gold links"'})) == {"Gold Chain"}
    assert found(client.get(SHOP, {"q": "diamond or sterling"})) == {"Aurora Ring", "Silver Chain"}


def test_search_combines_with_filters_and_keeps_q_in_pagination_links(client, settings):
    settings.SHOP_PRODUCTS_PER_PAGE = 2
    for i in range(3):
        make_product(f"Opal Ring {i}", metal="silver")
    make_product("Opal Pendant", metal="yellow-gold")
    response = client.get(SHOP, {"q": "opal", "metal": "silver"})
    assert response.context["paginator"].count == 3
    assert 'href="/shop/?q=opal&amp;metal=silver&amp;page=2"' in response.content.decode()


def test_no_results_page(client):
    make_product("Aurora Ring")
    response = client.get(SHOP, {"q": "tiara"})
    assert response.status_code == 200
    assert "No pieces match “tiara”" in response.content.decode()


@pytest.mark.parametrize(
    "text",
    [
        "'",
        '"',
        "&|!():*<>",
        "-",
        "or or or",
        "\\",
        "ring\x00",
        "x" * 5000,
        "%_%",
        "<script>alert(1)</script>",
        "日本語 ジュエリー",
    ],
)
def test_junk_queries_never_fail(client, text):
    make_product("Aurora Ring")
    response = client.get(SHOP, {"q": text})
    assert response.status_code == 200
    assert "<script>alert(1)</script>" not in response.content.decode()


def test_overlong_query_is_cut_to_the_limit():
    form = ProductFilterForm(_query(q="diamond " * 100), categories=[])
    assert len(form.filters().q) <= 100
    assert any("shortened" in notice for notice in form.notices)


def test_relevance_is_the_default_order_when_searching(client):
    make_product("Plain Band", "Mentions sapphire once.")
    make_product("Sapphire Sapphire Ring", "A sapphire halo of sapphires.")
    response = client.get(SHOP, {"q": "sapphire"})
    assert [p.name for p in response.context["products"]] == ["Sapphire Sapphire Ring", "Plain Band"]
    assert "sort=" not in response.context["canonical_url"]
    html = response.content.decode()
    assert '<option value="relevance" selected>Best match</option>' in html


def test_relevance_sort_without_a_query_means_newest(client):
    make_product("Older")
    make_product("Newer")
    response = client.get(SHOP, {"sort": SORT_RELEVANCE})
    assert [p.name for p in response.context["products"]] == ["Newer", "Older"]


def test_search_sql_uses_exactly_the_indexed_expression():
    sql = str(search_products(Product.objects.all(), text="ring").query)
    # In an id subquery (issue #21), so the table has a subquery alias.
    assert (
        "to_tsvector('english'::regconfig, U0.\"name\" || ' ' || U0.\"description\""
        " || ' ' || U0.\"metal\" || ' ' || U0.\"gemstone\")" in sql
    )
    assert "plainto_tsquery" in sql
    assert "websearch_to_tsquery" in str(search_products(Product.objects.all(), text='"gold ring"').query)


def _only_index_driven_plans() -> None:
    # Plain sequential and index scans off (for this transaction): a table can then only be read
    # through a bitmap scan on an index whose condition matches the query. The planner costs on a
    # small test table would otherwise vary with whatever statistics earlier tests left behind; this
    # asks the question that matters: is the GIN index *usable* for our search expression?
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")


def test_the_planner_uses_the_gin_index_for_a_search():
    # Enough rows that reading every active product costs more than the two search indexes (a typo
    # of a word of a name goes through the trigram index, OR-ed with the full-text one).
    category = ProductFactory().category
    Product.objects.bulk_create(
        Product(
            name=f"Piece {i}",
            slug=f"piece-{i}",
            description="Emerald cut" if i % 500 == 0 else "Plain band",
            category=category,
            metal="yellow-gold",
            price_from=Decimal("300.00"),
            price_to=Decimal("300.00"),
        )
        for i in range(3000)
    )
    with connection.cursor() as cursor:
        # Rows that earlier (rolled-back) tests inserted sit in the GIN "pending list", which the
        # planner charges for; flush it and refresh statistics so costs reflect this table only.
        cursor.execute("SELECT gin_clean_pending_list(%s::regclass)", [INDEX_NAME])
        cursor.execute("SELECT gin_clean_pending_list(%s::regclass)", [TRIGRAM_INDEX_NAME])
        cursor.execute("ANALYZE catalog_product")
    _only_index_driven_plans()

    bare = search_products(Product.objects.all(), text="emerald")
    assert f"Bitmap Index Scan on {INDEX_NAME}" in bare.explain()
    assert f"Bitmap Index Scan on {TRIGRAM_INDEX_NAME}" in bare.explain()
    shop_query = product_list(filters=ProductFilters(q="emerald"))
    plan = shop_query.explain()
    assert f"Bitmap Index Scan on {INDEX_NAME}" in plan, plan
    assert shop_query.count() == 6


def test_a_non_matching_expression_would_not_use_the_index():
    """Guards the test above: it really detects a document that differs from the index."""
    make_product("Emerald", "cut")
    _only_index_driven_plans()
    other = Product.objects.annotate(doc=SearchVector("name", "description", config="english")).filter(
        doc=SearchQuery("emerald", config="english")
    )
    assert INDEX_NAME not in other.explain()
    ours = Product.objects.alias(doc=PRODUCT_SEARCH_DOCUMENT()).filter(doc=SearchQuery("emerald", config="english"))
    assert INDEX_NAME in ours.explain()


def _query(**params):
    query = QueryDict(mutable=True)
    for key, value in params.items():
        query[key] = value
    return query


def test_a_cached_search_page_plans_nothing_and_still_logs_the_search(client, monkeypatch, caplog):
    """Planning a query (typo matching over every category, metal and stone) is CPU work: a repeated
    search is served from the cached listing without it, and is still counted in the search log."""
    import catalog.views

    plans = []
    real_plan = catalog.views.search_plan
    monkeypatch.setattr(catalog.views, "search_plan", lambda *a, **k: plans.append(a) or real_plan(*a, **k))
    ProductVariantFactory(product=ProductFactory(name="Sapphire Halo Ring"))
    url = reverse("catalog:product-list") + "?q=Saphire+ring"
    assert b"Sapphire Halo Ring" in client.get(url).content  # found through the typo correction
    assert len(plans) == 1
    caplog.clear()
    with caplog.at_level("INFO", logger="shop.catalog"):
        assert b"Sapphire Halo Ring" in client.get(url).content
    assert len(plans) == 1  # the second view built no plan
    (logged,) = [r for r in caplog.records if getattr(r, "event", "") == "catalog_search"]
    assert logged.search_query == "saphire ring"
