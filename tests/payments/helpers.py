"""Helpers for the payment tests: what the browser's Stripe script does, and Stripe-signed event bodies."""

import hashlib
import hmac
import json
import time
import uuid
from decimal import Decimal

import requests
from django.test import Client
from django.urls import reverse

from loopback.localstripe import GOOD_CARD, PUBLISHABLE_KEY, WEBHOOK_SECRET
from tests.factories import ProductFactory, ProductVariantFactory
from tests.orders.conftest import cart_with, place

DECLINED_AT_CHARGE = "4000000000000341"
NEEDS_3DS = "4000002760003184"


def card_setup(localstripe, *, setup_secret: str, number: str = GOOD_CARD, authenticate: bool = True) -> str:
    """Confirm a SetupIntent with a card as localstripe's Elements script does; returns the PaymentMethod."""
    return localstripe.card_setup(setup_secret=setup_secret, number=number, authenticate=authenticate)


def authenticate_payment(localstripe, *, client_secret: str, success: bool = True) -> dict:
    """The 3-D Secure step of ``confirmCardPayment`` in localstripe's script (its prompt answered)."""
    pi = client_secret.split("_secret_")[0]
    answer = requests.post(
        f"{localstripe.url}/v1/payment_intents/{pi}/_authenticate?success={'true' if success else 'false'}",
        data=json.dumps({"key": PUBLISHABLE_KEY, "client_secret": client_secret}),
        timeout=10,
    )
    answer.raise_for_status()
    return answer.json()


def signed(event: dict, *, secret: str = WEBHOOK_SECRET) -> tuple[bytes, str]:
    """A body and Stripe-Signature header as Stripe makes them (t=..., v1=HMAC-SHA256 of "t.body")."""
    body = json.dumps(event).encode()
    timestamp = int(time.time())
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return body, f"t={timestamp},v1={digest}"


def post_event(event: dict, *, client: Client | None = None, secret: str = WEBHOOK_SECRET):
    body, signature = signed(event, secret=secret)
    return (client or Client()).post(
        reverse("payments:stripe-webhook"), body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
    )


def intent_event(intent: dict, *, type: str = "payment_intent.succeeded", event_id: str | None = None) -> dict:
    return {
        "id": event_id or f"evt_{uuid.uuid4().hex[:16]}",
        "object": "event",
        "type": type,
        "created": int(time.time()),
        "data": {"object": intent},
        "livemode": False,
        "api_version": "2024-06-20",
    }


def card_order(
    *, stock: int = 3, price: Decimal = Decimal("120.00"), quantity: int = 1, email: str = "ada@example.com"
):
    """A placed, unpaid card order for one piece; returns (order, variant)."""
    variant = ProductVariantFactory(product=ProductFactory(name="Opal Ring"), price=price, stock=stock)
    order = place(cart_with((variant, quantity)), payment_method="card", email=email)
    return order, variant
