"""One rule for "sellable" (issue 15): a product in a switched-off category can be neither bought nor named.

The rule is ``ProductVariant.objects.sellable()`` / ``ProductVariant.is_sellable`` (variant, product and
category active); the shop pages, the bag's add form and checkout's stock check all apply it.
"""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from catalog.models import ProductVariant
from orders.models import Order
from orders.services import OutOfStockError
from tests.factories import CategoryFactory, ProductFactory, ProductVariantFactory
from tests.orders.conftest import cart_with, place

pytestmark = pytest.mark.django_db


@pytest.fixture
def hidden_piece():
    category = CategoryFactory(name="Archive", slug="archive", is_active=False)
    product = ProductFactory(name="Secret Prototype Tiara", category=category)
    return ProductVariantFactory(product=product, sku="TIARA-1", stock=5)


def test_sellable_rule_excludes_each_switched_off_level():
    live = ProductVariantFactory()
    off_variant = ProductVariantFactory(is_active=False)
    off_product = ProductVariantFactory(product=ProductFactory(is_active=False))
    off_category = ProductVariantFactory(product=ProductFactory(category=CategoryFactory(is_active=False)))
    assert list(ProductVariant.objects.sellable()) == [live]
    rows = ProductVariant.objects.select_related("product__category")
    assert [v.is_sellable for v in rows.filter(pk__in=[live.pk, off_variant.pk, off_product.pk, off_category.pk])] == [
        True,
        False,
        False,
        False,
    ]


def test_posting_the_id_of_a_piece_in_a_switched_off_category_adds_nothing_and_names_nothing(client, hidden_piece):
    response = client.post(reverse("cart:add"), {"variant": hidden_piece.pk, "quantity": 1})

    assert response.status_code == 302
    notes = [str(m) for m in get_messages(response.wsgi_request)]
    assert notes == ["Sorry, that piece is not available."]
    page = client.get(reverse("cart:detail")).content.decode()
    assert "Secret Prototype Tiara" not in page
    assert "Tiara" not in " ".join(notes)


def test_checkout_refuses_a_piece_whose_category_was_switched_off_after_it_was_bagged():
    variant = ProductVariantFactory(product=ProductFactory(name="Autumn Brooch"), stock=2)
    cart = cart_with((variant, 1))
    category = variant.product.category
    category.is_active = False
    category.save()

    with pytest.raises(OutOfStockError):
        place(cart)
    assert not Order.objects.exists()
    assert ProductVariant.objects.get(pk=variant.pk).stock == 2


def test_the_bag_drops_a_line_whose_category_was_switched_off(client):
    variant = ProductVariantFactory(product=ProductFactory(name="Winter Cuff"), stock=2)
    client.post(reverse("cart:add"), {"variant": variant.pk, "quantity": 1})
    category = variant.product.category
    category.is_active = False
    category.save()

    response = client.get(reverse("cart:detail"))

    assert response.context["summary"].count == 0


def test_choosing_a_hidden_piece_by_product_and_metal_names_nothing_either(client, hidden_piece):
    response = client.post(
        reverse("cart:add"), {"product": hidden_piece.product.pk, "metal": "platinum", "quantity": 1}
    )

    assert response.status_code in (200, 302)
    body = response.content.decode() if response.status_code == 200 else ""
    notes = " ".join(str(m) for m in get_messages(response.wsgi_request))
    assert "Tiara" not in body + notes
    assert client.get(reverse("cart:detail")).context["summary"].count == 0
