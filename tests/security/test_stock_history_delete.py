"""Issue 20: no inline or bulk path deletes a variant's stock history.

Before: the product page's variant inline offered "Delete" to a catalogue editor, and a StockAdjustment
was deleted with its variant (CASCADE), so a piece and every record of its stock could vanish in one
save. Variants are retired by unticking "Active"; a variant (or product) with history cannot be deleted.
"""

from decimal import Decimal

import pytest
from django.db.models import ProtectedError
from django.test import Client
from django.urls import reverse

from accounts.services import CATALOGUE_EDITORS, user_sync_from_oidc
from catalog.models import Product, ProductVariant, StockAdjustment
from catalog.services.stock import variant_stock_adjust
from tests.factories import ProductFactory, ProductVariantFactory
from tests.security.forms import form_post_data

pytestmark = pytest.mark.django_db


@pytest.fixture
def editor_client() -> Client:
    """A catalogue editor as the provider makes one (not a superuser): may delete variants in general."""
    claims = {"sub": "editor-20", "cognito:groups": [CATALOGUE_EDITORS]}
    editor = user_sync_from_oidc(claims=claims, staff_group="staff", groups_claim="cognito:groups")
    editor = type(editor).objects.get(pk=editor.pk)
    assert editor.has_perm("catalog.delete_productvariant")
    assert not editor.is_superuser
    client = Client()
    client.force_login(editor)
    return client


@pytest.fixture
def ring_with_history() -> ProductVariant:
    ring = ProductVariantFactory(product=ProductFactory(name="Opal Ring"), sku="OPAL-2", price=Decimal("900"), stock=0)
    variant_stock_adjust(variant_id=ring.pk, change=2, reason="received")
    return ring


def test_the_product_page_offers_no_delete_for_a_variant(editor_client, ring_with_history):
    page = editor_client.get(reverse("admin:catalog_product_change", args=[ring_with_history.product_id]))
    assert page.status_code == 200
    assert "variants-0-DELETE" not in page.content.decode()


def test_a_forged_delete_of_a_variant_through_the_product_page_deletes_nothing(editor_client, ring_with_history):
    url = reverse("admin:catalog_product_change", args=[ring_with_history.product_id])
    data = form_post_data(editor_client.get(url).content.decode(), "product_form")
    assert data["variants-0-id"] == [str(ring_with_history.pk)]
    data["variants-0-DELETE"] = ["on"]

    response = editor_client.post(url, data)

    assert response.status_code == 302
    assert ProductVariant.objects.filter(pk=ring_with_history.pk).exists()
    assert StockAdjustment.objects.filter(variant=ring_with_history).count() == 1


def test_deleting_the_product_from_its_delete_page_is_refused_with_the_history_named(editor_client, ring_with_history):
    """Refused before too (an editor may not delete stock adjustments, which the cascade needed); kept as a guard."""
    url = reverse("admin:catalog_product_delete", args=[ring_with_history.product_id])
    page = editor_client.get(url)
    assert page.status_code == 200
    assert "stock adjustment" in page.content.decode().lower()  # Django lists what protects it
    editor_client.post(url, {"post": "yes"})
    assert Product.objects.filter(pk=ring_with_history.product_id).exists()
    assert StockAdjustment.objects.filter(variant=ring_with_history).count() == 1


def test_bulk_delete_of_variants_with_history_is_refused(editor_client, ring_with_history):
    url = reverse("admin:catalog_productvariant_changelist")
    editor_client.post(url, {"action": "delete_selected", "_selected_action": [ring_with_history.pk], "post": "yes"})
    assert ProductVariant.objects.filter(pk=ring_with_history.pk).exists()


def test_the_orm_refuses_to_delete_a_variant_or_product_with_stock_history(ring_with_history):
    with pytest.raises(ProtectedError):
        ring_with_history.delete()
    with pytest.raises(ProtectedError):
        ring_with_history.product.delete()
    with pytest.raises(ProtectedError):
        ProductVariant.objects.filter(pk=ring_with_history.pk).delete()
    assert StockAdjustment.objects.filter(variant=ring_with_history).count() == 1


def test_a_variant_without_history_can_still_be_deleted_and_one_with_history_retired(ring_with_history):
    """Control: PROTECT guards history only; retiring is the way for a variant with history."""
    mistake = ProductVariantFactory(product=ring_with_history.product, stock=0)
    mistake.delete()
    ProductVariant.objects.filter(pk=ring_with_history.pk).update(is_active=False)
    assert not ProductVariant.objects.get(pk=ring_with_history.pk).is_active
