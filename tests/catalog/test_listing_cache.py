"""Issue #7: the stored price range behind the shop pages, and the cached catalogue fragments.

The price range lives on the product (catalog.services.price_ranges, kept by signals);
rendered grids are cached per catalogue version (catalog.cache). Whatever is cached, a change to a
price, a stock level or a product shows on the very next page view.
"""

import importlib
from decimal import Decimal

import pytest
from django.apps import apps
from django.core.cache import cache, caches
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from catalog.cache import (
    CSRF_MARKER,
    VERSION_KEY,
    catalog_cache_versions_bump,
    catalog_version,
    fragment_get,
    fragment_key,
    fragment_set,
)
from catalog.models import Product, ProductVariant
from catalog.services.price_ranges import product_price_range_refresh
from tests.factories import CategoryFactory, ProductFactory, ProductImageFactory, ProductVariantFactory

pytestmark = pytest.mark.django_db

SHOP = reverse("catalog:product-list")
HOME = reverse("catalog:home")


def price_range(product: Product) -> tuple[Decimal | None, Decimal | None]:
    product.refresh_from_db()
    return product.price_from, product.price_to


def html(client, url: str, **params) -> str:
    response = client.get(url, params)
    assert response.status_code == 200
    return response.content.decode()


def queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


# --- The stored price range ---------------------------------------------------------------------
def test_price_range_follows_the_active_variants_through_save_and_delete():
    product = ProductFactory()
    assert price_range(product) == (None, None)
    cheap = ProductVariantFactory(product=product, price=Decimal("100.00"))
    dear = ProductVariantFactory(product=product, price=Decimal("300.00"))
    ProductVariantFactory(product=product, price=Decimal("50.00"), is_active=False)
    assert price_range(product) == (Decimal("100.00"), Decimal("300.00"))

    cheap.is_active = False
    cheap.save()
    assert price_range(product) == (Decimal("300.00"), Decimal("300.00"))

    dear.delete()
    assert price_range(product) == (None, None)


def test_product_without_an_active_variant_is_not_listed(client):
    product = ProductFactory(name="Withdrawn Ring")
    variant = ProductVariantFactory(product=product)
    assert "Withdrawn Ring" in html(client, SHOP)
    variant.is_active = False
    variant.save()
    assert "Withdrawn Ring" not in html(client, SHOP)
    assert client.get(product.get_absolute_url()).status_code == 404


def test_saving_a_product_read_before_its_variants_changed_keeps_the_true_range():
    product = ProductFactory()  # in memory: no price range yet
    ProductVariantFactory(product=product, price=Decimal("200.00"))
    product.name = "Renamed"
    product.save()  # writes every column, including the stale NULL range
    assert price_range(product) == (Decimal("200.00"), Decimal("200.00"))


def test_bulk_writes_keep_the_price_range_as_saves_do():
    product = ProductVariantFactory(price=Decimal("200.00")).product
    other = ProductVariantFactory(price=Decimal("80.00")).product
    ProductVariant.objects.filter(product=product).update(price=Decimal("150.00"))  # update() sends no post_save
    assert price_range(product) == (Decimal("150.00"), Decimal("150.00"))
    assert price_range(other) == (Decimal("80.00"), Decimal("80.00"))

    moved = ProductVariant.objects.filter(product=other).get()
    ProductVariant.objects.filter(pk=moved.pk).update(product=product)  # both products' ranges change
    assert price_range(product) == (Decimal("80.00"), Decimal("150.00"))
    assert price_range(other) == (None, None)

    moved.price = Decimal("400.00")
    ProductVariant.objects.bulk_update([moved], ["price"])
    assert price_range(product) == (Decimal("150.00"), Decimal("400.00"))

    ProductVariant.objects.bulk_create([ProductVariant(product=other, sku="B-1", metal="silver", price=Decimal(60))])
    assert price_range(other) == (Decimal("60.00"), Decimal("60.00"))


def test_refresh_repairs_raw_sql_writes():
    product = ProductVariantFactory(price=Decimal("200.00")).product
    other = ProductVariantFactory(price=Decimal("80.00")).product
    with connection.cursor() as cursor:  # the one writer nothing hears
        cursor.execute("UPDATE catalog_productvariant SET price = price + 10")
    assert price_range(product) == (Decimal("200.00"), Decimal("200.00"))

    assert product_price_range_refresh(product_ids=[product.pk]) == 1
    assert price_range(product) == (Decimal("210.00"), Decimal("210.00"))
    assert price_range(other) == (Decimal("80.00"), Decimal("80.00"))
    assert product_price_range_refresh(product_ids=[]) == 0

    product_price_range_refresh(product_ids=None)
    assert price_range(other) == (Decimal("90.00"), Decimal("90.00"))


def test_migration_fills_the_range_of_existing_products():
    product = ProductVariantFactory(price=Decimal("120.00")).product
    ProductVariantFactory(product=product, price=Decimal("480.00"))
    bare = ProductFactory()
    Product.objects.update(price_from=None, price_to=Decimal("1.00"))  # as after the columns were added

    migration = importlib.import_module("catalog.migrations.0004_product_listing_summary")
    migration.fill_listing_summary(apps, None)

    assert price_range(product) == (Decimal("120.00"), Decimal("480.00"))
    assert price_range(bare) == (None, None)


def test_price_filters_and_sorts_read_the_stored_range(client):
    for name, prices in (("Low", ["90.00", "400.00"]), ("Mid", ["250.00"]), ("High", ["700.00", "90.00"])):
        product = ProductFactory(name=name)
        for price in prices:
            ProductVariantFactory(product=product, price=Decimal(price), is_active=name != "High" or price != "90.00")
    page = html(client, SHOP, sort="price-desc")
    assert page.index("High") < page.index("Mid") < page.index("Low")
    page = html(client, SHOP, min_price="100")
    assert "Mid" in page
    assert "High" in page
    assert "Low" not in page
    assert "from</span> £90" in html(client, SHOP, sort="price-asc")  # Low: £90 to £400


# --- Cached fragments: always current -------------------------------------------------------------
def test_a_repeated_list_view_is_served_from_the_cache(client):
    ProductVariantFactory(product=ProductFactory(name="Cached Ring"))
    first = queries(client, SHOP)
    second = queries(client, SHOP)
    assert second < first
    assert second <= 1  # the categories for the header and filters; no product query
    assert "Cached Ring" in html(client, SHOP)


def test_price_change_shows_at_once_on_list_category_home_and_detail(client):
    category = CategoryFactory(slug="rings", name="Rings")
    product = ProductFactory(name="Halo Ring", category=category, is_featured=True)
    variant = ProductVariantFactory(product=product, price=Decimal("100.00"))
    pages = [SHOP, category.get_absolute_url(), HOME, product.get_absolute_url()]
    for url in pages:
        assert "£100" in html(client, url)
        assert "£100" in html(client, url)  # now cached where it can be

    variant.price = Decimal("150.00")
    variant.save()

    for url in pages:
        page = html(client, url)
        assert "£150" in page, url
        assert "£100" not in page, url


def test_stock_change_shows_at_once_on_list_and_detail(client):
    product = ProductFactory(name="Last Ring")
    variant = ProductVariantFactory(product=product, stock=1)
    assert "Only 1 left" in html(client, SHOP)
    assert "Only 1 left" in html(client, SHOP)

    variant.stock = 0
    variant.save()

    assert "Sold out" in html(client, SHOP)
    assert "Sold out" in html(client, product.get_absolute_url())


def test_new_product_image_and_category_rename_show_at_once(client):
    category = CategoryFactory(slug="rings", name="Rings")
    ProductVariantFactory(product=ProductFactory(name="First Ring", category=category))
    assert "First Ring" in html(client, HOME)
    assert "First Ring" in html(client, SHOP)

    ProductVariantFactory(product=ProductFactory(name="Second Ring", category=category))
    assert "Second Ring" in html(client, HOME)
    assert "Second Ring" in html(client, SHOP)

    category.name = "Fine Rings"
    category.save()
    assert "Fine Rings" in html(client, SHOP)  # the category filter's choices

    Product.objects.filter(name="Second Ring").update(is_active=False)  # no post_save, heard all the same
    assert "Second Ring" not in html(client, SHOP)


def test_cached_listing_varies_with_filters_and_page(client):
    for i in range(30):
        ProductVariantFactory(product=ProductFactory(name=f"Piece {i:02d}", metal="silver" if i % 2 else "platinum"))
    html(client, SHOP)
    assert "Piece 05" not in html(client, SHOP, metal="platinum")
    assert "Piece 05" in html(client, SHOP, metal="silver")
    assert "Piece 29" in html(client, SHOP)
    assert "Piece 29" not in html(client, SHOP, page="2")
    junk = html(client, SHOP, min_price="abc")
    assert "The price filter was not applied" in junk
    assert "The price filter was not applied" not in html(client, SHOP)


def test_cached_listing_holds_nothing_per_shopper(client, django_user_model):
    ProductVariantFactory(product=ProductFactory(name="Shared Ring"))
    html(client, SHOP)
    html(client, HOME)
    stored = [value for key, value in caches["fragments"]._cache.items() if b"Shared Ring" in value]
    assert len(stored) == 2  # the list's listing and the home grids
    for value in stored:
        assert CSRF_MARKER.encode() not in value
        assert b"cart-count" not in value
        assert b"csrftoken" not in value

    user = django_user_model.objects.create_user("ada", "ada@example.com", "pw-for-tests-only")
    client.force_login(user)
    assert "Shared Ring" in html(client, SHOP)  # same fragment, own header


def test_fragment_with_a_csrf_token_is_never_stored():
    key = fragment_key("test", "csrf")
    fragment_set(key, {"html": f'<input name="{CSRF_MARKER}" value="secret">'})
    assert fragment_get(key) is None
    fragment_set(key, {"html": "<p>plain</p>"})
    assert fragment_get(key) == {"html": "<p>plain</p>"}


def test_version_is_new_after_a_bump_or_an_eviction():
    first = catalog_version()
    assert catalog_version() == first
    catalog_cache_versions_bump()
    second = catalog_version()
    assert second != first
    cache.delete(VERSION_KEY)  # evicted: never back to an earlier value
    assert catalog_version() not in (first, second)


def test_changes_in_a_transaction_bump_once_more_after_commit(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks, transaction.atomic():
        for price in ("10.00", "20.00", "30.00"):
            ProductVariantFactory(price=Decimal(price))
        during = catalog_version()
    # Back-in-stock checks (restock) are also scheduled per saved variant; the cache bump is one.
    bumps = [c for c in callbacks if getattr(c, "__module__", "") == "catalog.cache"]
    assert len(bumps) == 1  # however many rows changed
    bumps[0]()
    assert catalog_version() != during


def test_related_pieces_are_shared_by_the_category_leave_out_the_page_and_follow_changes(client):
    category = CategoryFactory(slug="rings", name="Rings")
    ProductVariantFactory(product=ProductFactory(name="Elsewhere Necklace"))
    variants = [
        ProductVariantFactory(product=ProductFactory(name=f"Ring {i}", category=category), price=Decimal("100.00"))
        for i in range(6)
    ]
    newest, oldest = variants[-1].product, variants[0].product

    related = html(client, newest.get_absolute_url()).split("You may also like")[1]
    assert [f"Ring {i}" in related for i in range(6)] == [False, True, True, True, True, False]
    related = html(client, oldest.get_absolute_url()).split("You may also like")[1]  # same cached cards
    assert [f"Ring {i}" in related for i in range(6)] == [False, False, True, True, True, True]
    assert "Elsewhere" not in related

    variants[4].price = Decimal("175.00")
    variants[4].save()
    assert "£175" in html(client, oldest.get_absolute_url()).split("You may also like")[1]


# --- The product page: its catalogue data cached per version, its form and header per request -----
def test_cached_product_page_shows_stock_changes_at_once(client, django_capture_on_commit_callbacks):
    from tests.orders.conftest import cart_with, place  # an order changes stock with update(), no signal

    product = ProductFactory(name="Twin Hoops")
    gold = ProductVariantFactory(product=product, metal="yellow-gold", stock=5, price=Decimal("100.00"))
    silver = ProductVariantFactory(product=product, metal="silver", stock=2, price=Decimal("60.00"))
    url = product.get_absolute_url()
    assert "Only 1 left" not in html(client, url)
    assert queries(client, url) == 0  # served from the cache

    silver.stock = 1
    silver.save()  # signal: version bump
    assert "Only 1 left" in html(client, url)

    with django_capture_on_commit_callbacks(execute=True):
        place(cart_with((gold, 5), (silver, 1)))
    page = html(client, url)
    assert "Only 1 left" not in page
    assert "Add to bag</button>" not in page
    assert "Sold out" in page


def test_cached_product_page_follows_price_photo_and_withdrawal(client):
    product = ProductFactory(name="Orbit Pendant")
    variant = ProductVariantFactory(product=product, price=Decimal("100.00"))
    url = product.get_absolute_url()
    html(client, url)
    assert "£100" in html(client, url)

    ProductImageFactory(product=product, alt_text="Orbit pendant on a model")
    assert "Orbit pendant on a model" in html(client, url)

    ProductVariant.objects.filter(pk=variant.pk).update(price=Decimal("120.00"))  # heard like a save
    assert "£120" in html(client, url)

    variant.is_active = False
    variant.save()
    assert client.get(url).status_code == 404


def test_cached_product_page_holds_nothing_per_shopper(client, django_user_model):
    from django.test import Client

    product = ProductVariantFactory(product=ProductFactory(name="Shared Pendant")).product
    url = product.get_absolute_url()
    first, second = Client(), Client()
    page_one, page_two = html(first, url), html(second, url)  # the second is served from the cache
    token = 'name="csrfmiddlewaretoken" value="'
    assert page_one.split(token)[1].split('"')[0] != page_two.split(token)[1].split('"')[0]
    for value in caches["fragments"]._cache.values():
        assert CSRF_MARKER.encode() not in value
        assert b"cart-count" not in value

    client.force_login(django_user_model.objects.create_user("ada", "ada@example.com", "pw-for-tests-only"))
    page = html(client, url)
    assert "Shared Pendant" in page
    assert ">Account</a>" in page


def test_unknown_or_unsellable_product_is_a_404(client):
    assert client.get(reverse("catalog:product-detail", kwargs={"slug": "no-such-piece"})).status_code == 404
    bare = ProductFactory(name="No Variants Yet")
    assert client.get(bare.get_absolute_url()).status_code == 404
    hidden = ProductVariantFactory(product=ProductFactory(name="Hidden", is_active=False)).product
    assert client.get(hidden.get_absolute_url()).status_code == 404


# --- Stock sold through orders: the product's page at once, the grids only when a card changes -------
def test_an_ordinary_sale_keeps_the_grids_cached_and_shows_on_the_product_page(
    client, django_capture_on_commit_callbacks
):
    from tests.orders.conftest import cart_with, place

    product = ProductFactory(name="Comet Studs")
    pair = ProductVariantFactory(product=product, metal="silver", stock=2)
    ProductVariantFactory(product=product, metal="yellow-gold", stock=10)
    url = product.get_absolute_url()
    assert "Only 1 left" not in html(client, url)
    html(client, SHOP)
    cached_list = queries(client, SHOP)
    version = catalog_version()

    with django_capture_on_commit_callbacks(execute=True):
        place(cart_with((pair, 1)))

    assert "Only 1 left" in html(client, url)  # the page followed the sale
    assert catalog_version() == version  # a card with 11 pieces looks the same: the grids stay cached
    assert queries(client, SHOP) == cached_list
    assert "Comet Studs" in html(client, SHOP)


def test_a_sale_that_changes_a_card_badge_shows_on_every_grid_at_once(client, django_capture_on_commit_callbacks):
    from orders.workflow import order_transition
    from tests.orders.conftest import cart_with, place

    category = CategoryFactory(slug="rings", name="Rings")
    product = ProductFactory(name="Solitaire", category=category, is_featured=True)
    ring = ProductVariantFactory(product=product, stock=4)
    pages = [SHOP, category.get_absolute_url(), HOME]
    for url in pages:
        assert "left" not in html(client, url)

    with django_capture_on_commit_callbacks(execute=True):
        place(cart_with((ring, 2)))
    for url in pages:
        assert "Only 2 left" in html(client, url), url

    with django_capture_on_commit_callbacks(execute=True):
        last_two = place(cart_with((ring, 2)))
    for url in pages:
        assert "Sold out" in html(client, url), url

    with django_capture_on_commit_callbacks(execute=True):
        order_transition(order=last_two, to_status="cancelled", actor=None)  # restocks
    for url in pages:
        page = html(client, url)
        assert "Only 2 left" in page, url
        assert "Sold out" not in page, url


def test_stock_of_an_inactive_variant_never_touches_the_grids(django_capture_on_commit_callbacks):
    from catalog.services.stock import variant_stock_move

    product = ProductFactory()
    ProductVariantFactory(product=product, stock=1)
    hidden = ProductVariantFactory(product=product, stock=1, is_active=False)
    version = catalog_version()
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        variant_stock_move(deltas={hidden.pk: -1})
    assert ProductVariant.objects.get(pk=hidden.pk).stock == 0
    assert catalog_version() == version  # the card (1 active piece, "Only 1 left") is unchanged


def test_a_product_page_that_does_not_exist_writes_nothing_to_the_cache(client):
    ProductVariantFactory(product=ProductFactory(slug="real-ring"))
    version = catalog_version()
    before = set(cache._cache)
    for slug in ["no-such-ring", "x" * 400]:  # a visitor chooses the slug and its length
        assert client.get(f"/product/{slug}/").status_code == 404
    assert set(cache._cache) == before
    assert catalog_version() == version

    assert client.get("/product/real-ring/").status_code == 200  # the first real view starts its version
    assert len(set(cache._cache) - before) == 1


def test_a_first_view_racing_a_sale_does_not_cache_what_it_read(django_capture_on_commit_callbacks):
    from catalog.cache import product_page_versions, product_stock_version_start

    ProductVariantFactory(product=ProductFactory(slug="twin-ring"))
    version, page_version = product_page_versions(slug="twin-ring")
    assert page_version is None  # never viewed: the view reads the product, then starts the version
    with django_capture_on_commit_callbacks(execute=True):
        catalog_cache_versions_bump(product_slugs=["twin-ring"])  # meanwhile a sale of it commits
    assert product_stock_version_start(slug="twin-ring", catalogue=version) is None  # so: do not cache
    _, page_version = product_page_versions(slug="twin-ring")
    assert page_version is not None
    assert page_version.startswith(version)
