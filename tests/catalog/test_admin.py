"""The catalogue admin: staff only, add a product with variants in one form, filters and a flat query count."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from catalog.models import Metal, Product
from tests.factories import (
    CategoryFactory,
    ProductImageFactory,
    ProductVariantFactory,
    StaffUserFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:catalog_product_changelist")
ADD = reverse("admin:catalog_product_add")


@pytest.fixture
def staff_client(client):
    client.force_login(StaffUserFactory())
    return client


def inline_management(prefix: str, total: int, initial: int = 0) -> dict[str, str]:
    return {
        f"{prefix}-TOTAL_FORMS": str(total),
        f"{prefix}-INITIAL_FORMS": str(initial),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }


def add_form_data(category, **overrides) -> dict[str, str]:
    data = {
        "name": "Solstice Solitaire Ring",
        "slug": "solstice-solitaire-ring",
        "category": str(category.pk),
        "metal": Metal.YELLOW_GOLD,
        "gemstone": "diamond",
        "description": "A single diamond in four claws.",
        "is_active": "on",
        "is_engravable": "on",
        "seo_description": "A diamond solitaire in 18ct gold.",
        **inline_management("variants", 2),
        "variants-0-sku": "SOL-YG-L",
        "variants-0-metal": Metal.YELLOW_GOLD,
        "variants-0-ring_size": "L",
        "variants-0-price": "1850.00",
        "variants-0-stock_change": "3",
        "variants-0-stock_reason": "opening",
        "variants-0-low_stock_threshold": "1",
        "variants-0-is_active": "on",
        "variants-0-position": "0",
        "variants-1-sku": "SOL-PT-N",
        "variants-1-metal": Metal.PLATINUM,
        "variants-1-ring_size": "N",
        "variants-1-price": "2300.00",
        "variants-1-stock_change": "",
        "variants-1-stock_reason": "",
        "variants-1-low_stock_threshold": "1",
        "variants-1-is_active": "on",
        "variants-1-position": "1",
        **inline_management("images", 0),
    }
    data.update(overrides)
    return data


def test_staff_adds_a_product_with_variants_through_the_admin_form(staff_client):
    category = CategoryFactory()

    response = staff_client.post(ADD, add_form_data(category))

    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    assert response["Location"] == CHANGELIST
    product = Product.objects.get(slug="solstice-solitaire-ring")
    assert product.category == category
    assert product.is_engravable
    assert list(product.variants.values_list("sku", "price", "stock")) == [
        ("SOL-YG-L", Decimal("1850.00"), 3),
        ("SOL-PT-N", Decimal("2300.00"), 0),
    ]


def test_negative_stock_in_the_admin_is_a_form_error_not_a_crash(staff_client):
    response = staff_client.post(ADD, add_form_data(CategoryFactory(), **{"variants-0-stock_change": "-1"}))

    assert response.status_code == 200
    assert "opening stock cannot be negative" in response.content.decode()
    assert not Product.objects.exists()


def test_duplicate_sku_in_the_admin_is_a_form_error(staff_client):
    ProductVariantFactory(sku="SOL-YG-L")
    response = staff_client.post(ADD, add_form_data(CategoryFactory()))
    assert response.status_code == 200
    assert "Product variant with this SKU already exists." in response.content.decode()


@pytest.mark.parametrize("url_name", ["admin:catalog_product_changelist", "admin:catalog_product_add"])
def test_anonymous_visitors_are_sent_to_the_admin_login(client, url_name):
    url = reverse(url_name)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('admin:login')}?next={url}"


def test_signed_in_shoppers_who_are_not_staff_cannot_use_the_admin(client):
    client.force_login(UserFactory())
    response = client.get(CHANGELIST)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
    category = CategoryFactory()
    response = client.post(ADD, add_form_data(category))
    assert response.status_code == 302
    assert not Product.objects.exists()


def test_admin_site_is_branded(staff_client):
    response = staff_client.get(reverse("admin:index"))
    assert "Maison Aurelia admin" in response.content.decode()


def changelist_products(client, query: str = "") -> list[str]:
    response = client.get(f"{CHANGELIST}{query}")
    assert response.status_code == 200
    return sorted(product.name for product in response.context["cl"].result_list)


def test_stock_filters_find_low_stock_and_sold_out_products(staff_client):
    ProductVariantFactory(product__name="Plenty", stock=5, low_stock_threshold=1)
    ProductVariantFactory(product__name="At threshold", stock=2, low_stock_threshold=2)
    ProductVariantFactory(product__name="Sold out", stock=0)
    hidden_zero = ProductVariantFactory(product__name="Inactive variant sold out", stock=5)
    ProductVariantFactory(product=hidden_zero.product, stock=0, is_active=False)
    mixed = ProductVariantFactory(product__name="One size left", stock=8)
    ProductVariantFactory(product=mixed.product, stock=1, low_stock_threshold=1)

    assert changelist_products(staff_client, "?stock=low") == ["At threshold", "One size left", "Sold out"]
    assert changelist_products(staff_client, "?stock=sold-out") == ["Sold out"]
    assert len(changelist_products(staff_client)) == 5


def test_changelist_shows_price_range_and_total_stock(staff_client):
    variant = ProductVariantFactory(product__name="Range", price=Decimal("85.00"), stock=2)
    ProductVariantFactory(product=variant.product, price=Decimal("1250.00"), stock=3)
    ProductVariantFactory(product=variant.product, price=Decimal("9999.00"), stock=50, is_active=False)

    content = staff_client.get(CHANGELIST).content.decode()

    assert "£85.00 – £1,250.00" in content
    assert '<td class="field-total_stock">5</td>' in content


def test_search_by_sku_finds_the_product_once(staff_client):
    variant = ProductVariantFactory(product__name="Findable", sku="FIND-ME-1")
    ProductVariantFactory(product=variant.product, sku="FIND-ME-2")
    ProductVariantFactory(product__name="Other", sku="OTHER-1")
    assert changelist_products(staff_client, "?q=FIND-ME") == ["Findable"]


def test_other_filters_load(staff_client):
    variant = ProductVariantFactory(product__name="Gold diamond", product__gemstone="diamond")
    ProductVariantFactory(product__name="Silver", product__metal=Metal.SILVER)
    query = f"?category__id__exact={variant.product.category_id}&metal=yellow-gold&gemstone=diamond&is_active__exact=1"
    assert changelist_products(staff_client, query) == ["Gold diamond"]


def make_products(count: int) -> None:
    parent = CategoryFactory(name="Rings", slug="rings")
    category = CategoryFactory(name="Engagement", slug="engagement", parent=parent)
    for _ in range(count):
        variant = ProductVariantFactory(product__category=category, stock=1)
        ProductVariantFactory(product=variant.product, stock=0)
        ProductImageFactory(product=variant.product)


def changelist_query_count(client, query: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(f"{CHANGELIST}{query}").status_code == 200
    return len(queries)


@pytest.mark.parametrize("query", ["", "?stock=low&metal=yellow-gold", "?q=SKU"])
def test_changelist_query_count_does_not_grow_with_products(staff_client, query):
    make_products(1)
    few = changelist_query_count(staff_client, query)
    Product.objects.all().delete()
    make_products(40)
    many = changelist_query_count(staff_client, query)
    assert many == few


def test_change_page_shows_thumbnails_and_offers_only_this_products_variants(staff_client):
    image = ProductImageFactory(alt_text="The ring on linen")
    own = ProductVariantFactory(product=image.product, sku="OWN-1")
    ProductVariantFactory(sku="SOMEONE-ELSES")

    response = staff_client.get(reverse("admin:catalog_product_change", args=[image.product.pk]))

    content = response.content.decode()
    assert f'<img src="{image.image.url}" alt="The ring on linen"' in content
    choices = response.context["inline_admin_formsets"][1].formset.forms[0].fields["variant"].queryset
    assert list(choices) == [own]


def test_bulk_delete_action_works_on_the_annotated_changelist(staff_client):
    keep, remove = ProductVariantFactory(), ProductVariantFactory()
    response = staff_client.post(
        CHANGELIST, {"action": "delete_selected", "_selected_action": [remove.product.pk], "post": "yes"}
    )
    assert response.status_code == 302
    assert list(Product.objects.all()) == [keep.product]


def test_variant_changelist_edits_price_in_place_but_never_stock(staff_client):
    """Stock is read-only in the list (issue 15): a typed-in value is ignored; adjustments are on the variant page."""
    variant = ProductVariantFactory(sku="EDIT-1", price=Decimal("100.00"), stock=1)
    url = reverse("admin:catalog_productvariant_changelist")
    data = {
        **inline_management("form", 1, 1),
        "form-0-id": str(variant.pk),
        "form-0-price": "120.00",
        "form-0-stock": "7",
        "_save": "Save",
    }
    response = staff_client.post(url, data)
    assert response.status_code == 302
    variant.refresh_from_db()
    assert (variant.price, variant.stock) == (Decimal("120.00"), 1)


def test_variant_admin_searches_by_sku(staff_client):
    ProductVariantFactory(sku="AUTO-77")
    ProductVariantFactory(sku="OTHER-1")
    response = staff_client.get(reverse("admin:catalog_productvariant_changelist"), {"q": "auto-77"})
    assert [v.sku for v in response.context["cl"].result_list] == ["AUTO-77"]


def test_category_autocomplete_for_the_product_form(staff_client):
    CategoryFactory(name="Necklaces")
    CategoryFactory(name="Rings")
    response = staff_client.get(
        reverse("admin:autocomplete"),
        {"app_label": "catalog", "model_name": "product", "field_name": "category", "term": "neck"},
    )
    assert [item["text"] for item in response.json()["results"]] == ["Necklaces"]


def test_category_admin_lists_nested_categories(staff_client):
    parent = CategoryFactory(name="Rings")
    CategoryFactory(name="Wedding bands", parent=parent)
    response = staff_client.get(reverse("admin:catalog_category_changelist"))
    assert "Rings › Wedding bands" in response.content.decode()


def test_category_filter_lists_each_parent_followed_by_its_children(staff_client):
    rings = CategoryFactory(name="Rings", position=1)
    CategoryFactory(name="Necklaces", position=2)
    CategoryFactory(name="Wedding bands", parent=rings, position=2)
    CategoryFactory(name="Engagement rings", parent=rings, position=1)
    response = staff_client.get(CHANGELIST)
    category_filter = response.context["cl"].filter_specs[0]
    assert [name for _, name in category_filter.lookup_choices] == [
        "Rings",
        "Rings › Engagement rings",
        "Rings › Wedding bands",
        "Necklaces",
    ]
