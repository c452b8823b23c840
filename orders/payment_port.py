"""The one door from orders to whatever takes card payments (the payments app), without importing it.

``orders`` stands below ``payments`` and must never import it; yet cancelling a card order or recording
a payment by hand depends on what Stripe holds. The payments app registers an object with these two
methods in its ``AppConfig.ready()``; with none registered (card payments not installed) orders behave
as a shop with bank transfer and pay on collection only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser

    from .models import Order


class PaymentPort(Protocol):
    def order_has_card_intent(self, *, order: Order) -> bool:
        """True when a card PaymentIntent was ever made for the order (staff must not record a payment by hand)."""

    def order_staff_cancel(self, *, order: Order, actor: AbstractBaseUser | None, note: str) -> Order:
        """Cancel a card order: end its open intents at Stripe, refund what was captured, then cancel it."""


_port: PaymentPort | None = None


def register(port: PaymentPort) -> None:
    """Called once by the payments app when Django starts."""
    global _port
    _port = port


def payment_port() -> PaymentPort | None:
    return _port
