"""Issue #16, "Finding pieces": filters that match what can be bought, search that forgives typos and
knows the shop's words, a helpful empty page, and a page for each collection."""

import json
import logging
from decimal import Decimal

import pytest
from django.urls import reverse

from catalog import search as search_module
from catalog import selectors
from catalog.models import Collection, Gemstone, Metal
from catalog.search import search_plan
from jewelry_site.logs import JsonFormatter
from tests.catalog.test_query_budget import BUDGETS, count_queries
from tests.factories import CategoryFactory, ProductFactory, ProductImageFactory, ProductVariantFactory

pytestmark = pytest.mark.django_db

SHOP = reverse("catalog:product-list")


def piece(name, *, category, metals=(Metal.YELLOW_GOLD,), gemstone="", stock=3, description="Hand-finished."):
    product = ProductFactory(name=name, category=category, metal=metals[0], gemstone=gemstone, description=description)
    for metal in metals:
        ProductVariantFactory(product=product, metal=metal, stock=stock, price=Decimal("500.00"))
    return product


def names(response) -> list[str]:
    return [p.name for p in response.context["products"]]


@pytest.fixture
def shop():
    """A small shop laid out like the demo: rings with an engagement sub-category, earrings, necklaces."""
    rings = CategoryFactory(slug="rings", name="Rings")
    engagement = CategoryFactory(slug="engagement-rings", name="Engagement rings", parent=rings)
    earrings = CategoryFactory(slug="earrings", name="Earrings")
    necklaces = CategoryFactory(slug="necklaces", name="Necklaces")
    return {
        "solitaire": piece(
            "Solstice Solitaire",
            category=engagement,
            metals=(Metal.YELLOW_GOLD, Metal.WHITE_GOLD, Metal.PLATINUM),
            gemstone=Gemstone.DIAMOND,
        ),
        "halo": piece("Midnight Halo", category=engagement, metals=(Metal.WHITE_GOLD,), gemstone=Gemstone.SAPPHIRE),
        "band": piece("Plain Court Band", category=rings, metals=(Metal.PLATINUM, Metal.YELLOW_GOLD)),
        "drops": piece("Azure Drop Earrings", category=earrings, gemstone=Gemstone.SAPPHIRE),
        "pendant": piece("Tide Pendant", category=necklaces, metals=(Metal.SILVER,), gemstone=Gemstone.PEARL),
        "categories": {"rings": rings, "engagement": engagement, "earrings": earrings},
    }


# --- Metal filter: what can be bought ------------------------------------------------------------
def test_metal_filter_matches_every_metal_a_piece_is_sold_in(client, shop):
    response = client.get(SHOP, {"metal": "platinum"})
    # The solitaire's main metal is yellow gold, but it is sold in platinum too.
    assert set(names(response)) == {"Solstice Solitaire", "Plain Court Band"}
    assert response.context["result_count"] == len(names(response)) == 2  # the count agrees with the grid
    chips = [chip["label"] for chip in response.context["active_filters"]]
    assert chips == ["Platinum"]
    html = response.content.decode()
    assert "2 pieces" in html
    assert "Yellow gold, white gold +1" in html  # the card names the metals it is sold in


def test_metal_filter_ignores_inactive_variants(client, shop):
    shop["band"].variants.filter(metal=Metal.PLATINUM).update(is_active=False)
    assert set(names(client.get(SHOP, {"metal": "platinum"}))) == {"Solstice Solitaire"}


def test_two_metals_mean_either_and_combine_with_the_stone(client, shop):
    response = client.get(SHOP, {"metal": ["silver", "white-gold"], "gemstone": "sapphire"})
    assert names(response) == ["Midnight Halo"]


def test_metal_filter_query_count_is_flat(client, django_assert_max_num_queries):
    category = CategoryFactory(slug="rings")

    def count():
        with django_assert_max_num_queries(BUDGETS["list"]):
            return count_queries(client, SHOP + "?metal=platinum&metal=silver")

    piece("First", category=category, metals=(Metal.YELLOW_GOLD, Metal.PLATINUM))
    small = count()
    for i in range(60):
        p = piece(f"More {i}", category=category, metals=(Metal.SILVER, Metal.PLATINUM))
        ProductImageFactory(product=p)
    assert count() == small


# --- Search ------------------------------------------------------------------------------------------
def test_a_typo_finds_the_stone(client, shop):
    response = client.get(SHOP, {"q": "saphire"})
    assert set(names(response)) == {"Midnight Halo", "Azure Drop Earrings"}
    html = response.content.decode()
    assert "Including results for “sapphire”" in html


def test_category_and_stone_words_together(client, shop):
    # "rings" is the category (with its engagement sub-category), "sapphire" the stone: not the earrings.
    assert names(client.get(SHOP, {"q": "rings sapphire"})) == ["Midnight Halo"]


def test_a_category_word_finds_the_whole_category(client, shop):
    assert set(names(client.get(SHOP, {"q": "engagement"}))) == {"Solstice Solitaire", "Midnight Halo"}
    assert set(names(client.get(SHOP, {"q": "engagment"}))) == {"Solstice Solitaire", "Midnight Halo"}


def test_a_metal_word_finds_pieces_sold_in_it(client, shop):
    assert set(names(client.get(SHOP, {"q": "platinum"}))) == {"Solstice Solitaire", "Plain Court Band"}
    assert set(names(client.get(SHOP, {"q": "platinum ring"}))) == {"Solstice Solitaire", "Plain Court Band"}


def test_a_typo_in_a_product_name_uses_trigrams(client, shop):
    assert names(client.get(SHOP, {"q": "midnigt"})) == ["Midnight Halo"]


def test_rings_never_find_earrings(client, shop):
    assert "Azure Drop Earrings" not in names(client.get(SHOP, {"q": "ring"}))


def test_sold_out_pieces_come_after_available_ones(client, shop):
    newest_sold_out = piece("Sapphire Star", category=shop["categories"]["rings"], gemstone=Gemstone.SAPPHIRE, stock=0)
    for sort in ("relevance", "newest", "price-asc"):
        found = names(client.get(SHOP, {"q": "sapphire", "sort": sort}))
        assert found[-1] == newest_sold_out.name, sort
        assert len(found) == 3


def test_empty_search_offers_a_way_on_and_never_blames_filters(client, shop):
    response = client.get(SHOP, {"q": "saphire tiara"})
    html = response.content.decode()
    assert response.status_code == 200
    assert names(response) == []
    assert "Try fewer filters" not in html
    assert "Remove a filter" not in html
    assert "Did you mean" in html
    assert 'href="/shop/?q=sapphire"' in html
    assert "Popular pieces" in html
    assert "Tide Pendant" in html.split("Popular pieces")[1]  # pieces to look at instead


def test_empty_result_with_a_filter_says_so(client, shop):
    html = client.get(SHOP, {"q": "pendant", "metal": "platinum"}).content.decode()
    assert "with these filters" in html
    assert "Remove a filter" in html


def test_websearch_syntax_is_kept(client, shop):
    assert names(client.get(SHOP, {"q": '"court band"'})) == ["Plain Court Band"]
    assert "Plain Court Band" not in names(client.get(SHOP, {"q": "band -court"}))


def test_sqlite_fallback_uses_icontains_on_the_same_words(client, shop, monkeypatch):
    """Runs the SQLite branch's query on Postgres (icontains is LIKE on both); not covered: SQLite's own
    collation of non-ASCII text."""
    monkeypatch.setattr(search_module, "uses_full_text_search", lambda: False)
    monkeypatch.setattr(selectors, "uses_full_text_search", lambda: False)
    assert set(names(client.get(SHOP, {"q": "saphire"}))) == {"Midnight Halo", "Azure Drop Earrings"}
    assert names(client.get(SHOP, {"q": "rings sapphire"})) == ["Midnight Halo"]
    assert set(names(client.get(SHOP, {"q": "engagement"}))) == {"Solstice Solitaire", "Midnight Halo"}


def test_search_plan_understands_shop_words(shop):
    categories = [shop["categories"]["rings"], shop["categories"]["engagement"], shop["categories"]["earrings"]]
    (word,) = search_plan("Saphire", categories=categories).words
    assert word.gemstones == ("sapphire",)
    assert word.corrections == ("sapphire",)
    (rings,) = search_plan("rings", categories=categories).words
    assert rings.category_ids == {shop["categories"]["rings"].pk, shop["categories"]["engagement"].pk}
    (gold,) = search_plan("gold", categories=categories).words
    assert set(gold.metals) == {Metal.YELLOW_GOLD, Metal.WHITE_GOLD, Metal.ROSE_GOLD}
    assert search_plan("the and of", categories=categories).words == ()


def test_search_logs_the_analytics_event(client, shop, caplog):
    with caplog.at_level(logging.INFO, logger="shop.catalog"):
        client.get(SHOP, {"q": "  SAPHIRE  "})
        client.get(SHOP, {"q": "saphire"})  # served from the listing cache: logged all the same
        client.get(SHOP, {"q": "x" * 300})
        client.get(SHOP)  # not a search
    records = [r for r in caplog.records if r.name == "shop.catalog"]
    assert [r.getMessage() for r in records] == ["catalog_search"] * 3
    line = json.loads(JsonFormatter().format(records[0]))
    assert line["event"] == "catalog_search"
    assert line["search_query"] == "saphire"
    assert line["search_results"] == 2
    assert isinstance(line["search_results"], int)
    assert records[1].search_results == 2
    assert len(records[2].search_query) <= 100
    assert records[2].search_results == 0


# --- Collections ----------------------------------------------------------------------------------------------
@pytest.fixture
def collections(shop):
    heirloom = Collection.objects.create(name="Heirloom", slug="heirloom", description="Pieces to hand down.")
    retired = Collection.objects.create(name="Retired", slug="retired", is_active=False)
    heirloom.products.add(shop["solitaire"], shop["pendant"])
    retired.products.add(shop["band"])
    return heirloom, retired


def test_each_active_collection_has_a_page_with_its_pieces(client, collections):
    heirloom, retired = collections
    response = client.get(heirloom.get_absolute_url())
    assert response.status_code == 200
    assert set(names(response)) == {"Solstice Solitaire", "Tide Pendant"}
    html = response.content.decode()
    assert "<h1>Heirloom</h1>" in html
    assert "Pieces to hand down." in html
    # Filters work on the collection page too.
    assert names(client.get(heirloom.get_absolute_url(), {"metal": "silver"})) == ["Tide Pendant"]
    assert client.get(retired.get_absolute_url()).status_code == 404
    assert client.get(reverse("catalog:collection-detail", kwargs={"slug": "nope"})).status_code == 404


def test_collections_are_in_the_menu_and_the_sitemap(client, collections):
    heirloom, retired = collections
    html = client.get(reverse("catalog:home")).content.decode()
    nav = html.split('class="category-nav"')[1].split("</nav>")[0]
    assert f'href="{heirloom.get_absolute_url()}"' in nav
    assert retired.get_absolute_url() not in nav
    sitemap = client.get("/sitemap.xml").content.decode()
    assert heirloom.get_absolute_url() in sitemap
    assert retired.get_absolute_url() not in sitemap
    # The menu item is marked on its own page.
    page = client.get(heirloom.get_absolute_url()).content.decode()
    assert f'href="{heirloom.get_absolute_url()}" aria-current="page"' in page


def test_a_renamed_or_retired_collection_leaves_the_menu_at_once(client, collections):
    heirloom, _retired = collections
    client.get(reverse("catalog:home"))
    heirloom.is_active = False
    heirloom.save()
    assert heirloom.get_absolute_url() not in client.get(reverse("catalog:home")).content.decode()
    assert client.get(heirloom.get_absolute_url()).status_code == 404


def test_collection_page_query_count_is_flat(client, django_assert_max_num_queries):
    collection = Collection.objects.create(name="Solstice", slug="solstice")
    category = CategoryFactory(slug="rings")

    def count():
        with django_assert_max_num_queries(BUDGETS["category"]):
            return count_queries(client, collection.get_absolute_url())

    collection.products.add(piece("First", category=category))
    small = count()
    for i in range(60):
        p = piece(f"More {i}", category=category, metals=(Metal.SILVER, Metal.PLATINUM))
        ProductImageFactory(product=p)
        collection.products.add(p)
    assert count() == small
