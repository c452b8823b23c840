"""Signed links that open one order without an account (the link in the shopper's e-mails)."""

from django.conf import settings
from django.core import signing
from django.urls import reverse

from .models import Order

GUEST_LINK_SALT = "orders.guest-link"


def order_guest_token(*, order: Order) -> str:
    """A signed, expiring token naming the order, for the link in the shopper's e-mails."""
    return signing.dumps({"n": order.number}, salt=GUEST_LINK_SALT)


def order_from_guest_token(*, token: str) -> Order | None:
    """The order a guest token names, or None when it is forged, garbled or expired."""
    try:
        data = signing.loads(token, salt=GUEST_LINK_SALT, max_age=settings.SHOP_ORDER_LINK_MAX_AGE)
    except signing.BadSignature:  # includes SignatureExpired
        return None
    if not isinstance(data, dict) or not isinstance(data.get("n"), str):
        return None
    return Order.objects.filter(number=data["n"]).first()


def order_guest_url(*, order: Order) -> str:
    """Absolute signed link to the order, for guests (and anyone reading the e-mail on another device)."""
    path = reverse("orders:guest-order", kwargs={"token": order_guest_token(order=order)})
    return settings.SHOP_SITE_URL.rstrip("/") + path
