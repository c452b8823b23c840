import uuid
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from cart.models import Cart
from cart.services import cart_add_line
from orders.services import ShippingAddress, order_place
from tests.factories import ProductFactory, ProductVariantFactory

ADDRESS = ShippingAddress(
    full_name="Ada Lovelace",
    address_line1="12 St James's Square",
    city="London",
    postcode="SW1Y 4JH",
    country="GB",
)

CHECKOUT_POST = {
    "email": "ada@example.com",
    "full_name": "Ada Lovelace",
    "address_line1": "12 St James's Square",
    "address_line2": "",
    "city": "London",
    "postcode": "SW1Y 4JH",
    "country": "GB",
    "phone": "",
    "shipping_method": "standard",
    "payment_method": "bank_transfer",
    "gift_message": "",
}


@pytest.fixture
def ring(db):
    return ProductVariantFactory(
        product=ProductFactory(name="Aurora Ring", is_engravable=True), sku="RING-Y-L", price=Decimal("120.00"), stock=3
    )


@pytest.fixture
def necklace(db):
    return ProductVariantFactory(product=ProductFactory(name="Lune Necklace"), price=Decimal("300.00"), stock=2)


def checkout_data(client: Client, **overrides) -> dict:
    """The checkout form as the browser would send it after a GET (token and expected total included)."""
    response = client.get(reverse("orders:checkout"))
    assert response.status_code == 200
    form = response.context["form"]
    return {
        **CHECKOUT_POST,
        "checkout_token": form["checkout_token"].value(),
        "expected_goods_total": form["expected_goods_total"].value(),
        **overrides,
    }


def shopper_ready(variant) -> tuple[Client, dict]:
    """A new shopper with one of ``variant`` in the bag and the checkout form filled, not yet sent."""
    client = Client()
    client.post(reverse("cart:add"), {"variant": variant.pk, "quantity": 1})
    return client, checkout_data(client)


def cart_with(*items, user=None) -> Cart:
    """A cart holding (variant, quantity[, engraving]) items."""
    cart = Cart.objects.create(user=user)
    for item in items:
        variant, quantity, *rest = item
        cart_add_line(cart=cart, variant=variant, quantity=quantity, engraving=rest[0] if rest else "")
    return cart


def place(cart: Cart, **overrides):
    kwargs = {
        "cart": cart,
        "checkout_token": uuid.uuid4(),
        "email": "ada@example.com",
        "shipping_address": ADDRESS,
        "shipping_method": "standard",
        "gift_message": "",
        "user": None,
        **overrides,
    }
    return order_place(**kwargs)
