"""Stock is never written from a stale admin form (issue 15, "Stock and orders", first item).

The interleaving of the issue, through the real admin pages (test client GET, the rendered form read
back, POST) and the real checkout, on Postgres: staff open a one-of-a-kind ring at stock 1, a shopper
buys it, staff change its price and save. Stock moves only by recorded adjustments.
"""

from decimal import Decimal

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from catalog.models import ProductVariant, StockAdjustment
from catalog.services.stock import variant_stock_adjust
from orders.models import Order
from tests.factories import ProductFactory, ProductVariantFactory, StaffUserFactory
from tests.orders.conftest import checkout_data
from tests.security.forms import form_post_data

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client():
    client = Client()
    client.force_login(StaffUserFactory(username="editor"))
    return client


@pytest.fixture
def ring():
    product = ProductFactory(name="One-of-a-kind Opal Ring")
    return ProductVariantFactory(product=product, sku="OPAL-1", price=Decimal("900.00"), stock=1)


def shopper_buys(variant: ProductVariant) -> Order:
    """A guest adds the piece to the bag and checks out through the shop's pages."""
    shopper = Client()
    assert shopper.post(reverse("cart:add"), {"variant": variant.pk, "quantity": 1}).status_code == 302
    response = shopper.post(reverse("orders:checkout"), checkout_data(shopper))
    assert response.status_code == 302
    return Order.objects.get()


def test_price_saved_from_a_stale_product_page_keeps_the_sold_stock(staff_client, ring):
    url = reverse("admin:catalog_product_change", args=[ring.product.pk])
    page = staff_client.get(url)
    data = form_post_data(page.content.decode(), "product_form")
    shopper_buys(ring)
    assert ProductVariant.objects.get(pk=ring.pk).stock == 0

    data["variants-0-price"] = ["950.00"]
    response = staff_client.post(url, data)

    assert response.status_code == 302, response.context["errors"] if response.context else ""
    ring.refresh_from_db()
    assert (ring.price, ring.stock) == (Decimal("950.00"), 0)


def test_price_saved_from_a_stale_variant_list_keeps_the_sold_stock(staff_client, ring):
    url = reverse("admin:catalog_productvariant_changelist")
    page = staff_client.get(url)
    data = form_post_data(page.content.decode(), "changelist-form")
    shopper_buys(ring)

    data["form-0-price"] = ["950.00"]
    data["_save"] = ["Save"]
    response = staff_client.post(url, data)

    assert response.status_code == 302
    ring.refresh_from_db()
    assert (ring.price, ring.stock) == (Decimal("950.00"), 0)


def test_price_saved_from_a_stale_variant_page_keeps_the_sold_stock(staff_client, ring):
    url = reverse("admin:catalog_productvariant_change", args=[ring.pk])
    page = staff_client.get(url)
    data = form_post_data(page.content.decode(), "productvariant_form")
    shopper_buys(ring)

    data["price"] = ["950.00"]
    response = staff_client.post(url, data)

    assert response.status_code == 302
    ring.refresh_from_db()
    assert (ring.price, ring.stock) == (Decimal("950.00"), 0)


def test_stock_adjustment_is_applied_to_the_current_stock_and_recorded(staff_client, ring):
    url = reverse("admin:catalog_product_change", args=[ring.product.pk])
    data = form_post_data(staff_client.get(url).content.decode(), "product_form")
    shopper_buys(ring)  # stock 1 -> 0 while the page is open

    data["variants-0-stock_change"] = ["3"]
    data["variants-0-stock_reason"] = ["received"]
    response = staff_client.post(url, data)

    assert response.status_code == 302
    assert ProductVariant.objects.get(pk=ring.pk).stock == 3  # 0 + 3, not 1 + 3 and not 3 typed over 1
    adjustment = StockAdjustment.objects.get()
    assert (adjustment.change, adjustment.stock_before, adjustment.stock_after) == (3, 0, 3)
    assert (adjustment.reason, adjustment.actor.username) == ("received", "editor")


def test_a_stale_write_off_below_zero_is_refused_with_a_clear_message(staff_client, ring):
    url = reverse("admin:catalog_productvariant_change", args=[ring.pk])
    data = form_post_data(staff_client.get(url).content.decode(), "productvariant_form")
    shopper_buys(ring)

    data["stock_change"] = ["-1"]
    data["stock_reason"] = ["damaged"]
    response = staff_client.post(url, data)

    assert response.status_code == 200
    assert "Stock is now 0" in response.content.decode()
    assert ProductVariant.objects.get(pk=ring.pk).stock == 0
    assert not StockAdjustment.objects.exists()


def test_a_stock_change_needs_a_reason(staff_client, ring):
    url = reverse("admin:catalog_productvariant_change", args=[ring.pk])
    data = form_post_data(staff_client.get(url).content.decode(), "productvariant_form")
    data["stock_change"] = ["2"]
    response = staff_client.post(url, data)
    assert response.status_code == 200
    assert "Say why the stock changes." in response.content.decode()
    assert ProductVariant.objects.get(pk=ring.pk).stock == 1


def test_no_admin_form_for_variants_offers_stock_as_a_field(rf):
    """The guard: every admin page editing variants (and proxies of them) leaves stock out of its form."""
    request = rf.get("/")
    request.user = StaffUserFactory(username="auditor")
    checked = []
    for model, model_admin in admin.site._registry.items():
        inlines = model_admin.get_inline_instances(request)
        candidates = [(model, model_admin)] + [(inline.model, inline) for inline in inlines]
        for candidate_model, candidate in candidates:
            if not issubclass(candidate_model, ProductVariant):
                continue
            if hasattr(candidate, "get_formset"):
                writes = candidate.has_change_permission(request) or candidate.has_add_permission(request, None)
                form = candidate.get_formset(request).form
            else:
                writes = candidate.has_change_permission(request) or candidate.has_add_permission(request)
                form = candidate.get_form(request)
            if not writes:  # a read-only list (orders' low-stock view) saves nothing
                continue
            assert "stock" not in form.base_fields, candidate
            assert "stock" not in (candidate.list_editable if hasattr(candidate, "list_editable") else ())
            checked.append(type(candidate).__name__)
    assert {"ProductVariantAdmin", "ProductVariantInline"} <= set(checked)


@pytest.mark.parametrize("count", [1, 30])
def test_stock_lists_cost_the_same_at_1_and_30_rows(staff_client, count, django_assert_max_num_queries):
    editor = StaffUserFactory(username="counter")
    for index in range(count):
        variant = ProductVariantFactory(sku=f"COUNT-{index}", stock=2)
        variant_stock_adjust(variant_id=variant.pk, change=1, reason="received", actor=editor)
    for name in ("admin:catalog_stockadjustment_changelist", "admin:catalog_productvariant_changelist"):
        with django_assert_max_num_queries(12):
            assert staff_client.get(reverse(name)).status_code == 200
