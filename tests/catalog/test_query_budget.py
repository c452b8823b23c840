"""Each storefront page costs the same, small number of queries with 1 product or 100."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from catalog.models import Category
from tests.factories import CategoryFactory, ProductFactory, ProductImageFactory, ProductVariantFactory

pytestmark = pytest.mark.django_db

# Anonymous shopper without a session. Every page reads the categories once (header navigation,
# filters, breadcrumbs). Home: + featured and new products, each with their images. Lists: + count,
# the page of products, their images. Detail (first view): + the variants with their product, the images, the
# category's newest products (cached per category for every product page of it) and their images.
# Search: + the SET LOCAL of its time limit (issue #21, one round trip in production) and, only inside a
# test's transaction, the round trip that puts the settings back.
BUDGETS = {"home": 5, "list": 4, "category": 4, "search": 6, "detail": 5}


def catalogue(count: int):
    rings = CategoryFactory(slug="rings", name="Rings")
    child = CategoryFactory(slug="bands", name="Bands", parent=rings)
    CategoryFactory(slug="necklaces", name="Necklaces")
    products = []
    for i in range(count):
        product = ProductFactory(
            name=f"Diamond piece {i}", is_featured=i % 3 == 0, category=child if i % 2 else rings, is_engravable=True
        )
        for j in range(2):
            variant = ProductVariantFactory(product=product, price=Decimal(100 + i), stock=j)
            ProductImageFactory(product=product, variant=variant if j else None, position=j)
        products.append(product)
    return products[0]


def urls(first_product) -> dict[str, str]:
    return {
        "home": reverse("catalog:home"),
        "list": reverse("catalog:product-list") + "?metal=yellow-gold&sort=price-asc&page=2",
        "category": reverse("catalog:category-detail", kwargs={"slug": "rings"}),
        "search": reverse("catalog:product-list") + "?q=diamond",
        "detail": first_product.get_absolute_url(),
    }


def count_queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(captured)


@pytest.mark.parametrize("page", list(BUDGETS))
def test_queries_do_not_grow_with_the_catalogue(client, page, django_assert_max_num_queries):
    first = catalogue(1)
    if page == "detail":
        catalogue_extra(0)  # one related piece, so the related-products queries run at both sizes
    with django_assert_max_num_queries(BUDGETS[page]):
        small = count_queries(client, urls(first)[page])

    for i in range(1, 100):
        catalogue_extra(i)
    with django_assert_max_num_queries(BUDGETS[page]):
        large = count_queries(client, urls(first)[page])

    assert small == large, f"{page}: {small} queries with 1 product, {large} with 100"


def catalogue_extra(i: int):
    """One more product like those of ``catalogue`` (same categories, variants and images)."""
    category = Category.objects.get(slug="bands" if i % 2 else "rings")
    product = ProductFactory(name=f"Diamond extra {i}", is_featured=True, category=category, is_engravable=True)
    for j in range(2):
        variant = ProductVariantFactory(product=product, price=Decimal(50 + i), stock=j)
        ProductImageFactory(product=product, variant=variant if j else None, position=j)
    return product


def test_product_page_alone_in_its_category(client, django_assert_num_queries):
    first = catalogue(1)
    with django_assert_num_queries(BUDGETS["detail"]):
        response = client.get(first.get_absolute_url())
    assert "You may also like" not in response.content.decode()  # its own card is left out


# Served again with the catalogue unchanged, the product grids come from the cache (catalog.cache):
# lists and home read only the categories; the product page reads nothing (its product, variants,
# photos, categories and related cards are cached per catalogue version, which every stock change
# bumps: see test_listing_cache.py).
CACHED_BUDGETS = {"home": 1, "list": 1, "category": 1, "search": 1, "detail": 0}


@pytest.mark.parametrize("page", list(CACHED_BUDGETS))
def test_cached_pages_skip_the_product_queries(client, page, django_assert_num_queries):
    first = catalogue(1)
    for i in range(30):
        catalogue_extra(i)
    url = urls(first)[page]
    count_queries(client, url)
    with django_assert_num_queries(CACHED_BUDGETS[page]):
        count_queries(client, url)
