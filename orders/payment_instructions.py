"""What the shopper must do to pay an order: shown on the confirmation page, the order page and in e-mails."""

from dataclasses import dataclass

from django.conf import settings

from catalog.money import format_money

from .models import Order, PaymentMethod


@dataclass(frozen=True)
class PaymentInstructions:
    method: str
    title: str
    text: str
    redirect_url: str | None = None  # a card provider's hosted page, once there is one


def payment_instructions(*, order: Order) -> PaymentInstructions:
    """What the shopper must do to pay (shown on the confirmation page and in the e-mail)."""
    total = format_money(order.total, pence=True)
    if order.payment_method == PaymentMethod.CARD:
        return PaymentInstructions(
            method=order.payment_method,
            title="Pay by card",
            text=f"Please pay {total} by card to complete order {order.number}.",
        )
    if order.payment_method == PaymentMethod.ON_COLLECTION:
        return PaymentInstructions(
            method=order.payment_method,
            title="Pay when you collect",
            text=f"Please pay {total} in our boutique when you collect order {order.number}.",
        )
    return PaymentInstructions(
        method=order.payment_method,
        title="Pay by bank transfer",
        text=(
            f"Please transfer {total} to {settings.SHOP_BANK_TRANSFER_DETAILS}, quoting {order.number} "
            "as the reference. We send your order as soon as the payment arrives."
        ),
    )
