"""What the checkout page shows besides the form: prefill, delivery prices, payment notes (read-only)."""

from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings

from accounts.models import POSTAL_ADDRESS_FIELDS
from accounts.selectors import address_checkout_initial
from cart.cart import CartSummary

from .boutique import boutique
from .forms import COLLECTION_ONLY_PAYMENTS, CheckoutForm
from .models import Order, PaymentMethod, ShippingMethod
from .services import OrderError, shipping_cost


def checkout_initial(*, user) -> dict:
    """Prefill for signed-in shoppers: their e-mail, and their default saved address or else the address
    of their latest order in the fields (the saved-address choice starts on "the address below", so
    editing the fields without scripts never gets overridden by a saved address).
    """
    if not user.is_authenticated:
        return {}
    initial: dict = {"email": user.email}
    last = Order.objects.filter(user=user).order_by("-created_at", "-pk").first()
    if last is not None and last.address_line1:  # a collection order has no address to offer
        initial.update({field: getattr(last, field) for field in POSTAL_ADDRESS_FIELDS})
        initial["email"] = user.email or last.email
    if last is not None:
        initial["shipping_method"] = last.shipping_method
    # A saved default address (accounts) is the shopper's explicit choice: it wins over the last order's.
    initial.update(address_checkout_initial(user=user))
    return initial


def reservation_note(*, payment_method: str) -> str:
    """How long the pieces stay reserved once the order is placed, for this payment method.

    The deadlines are the payments app's settings (issue #11); without them the sentence claims no time.
    """
    minutes = getattr(settings, "SHOP_CARD_PAYMENT_MINUTES", None)
    days = {
        PaymentMethod.BANK_TRANSFER: getattr(settings, "SHOP_BANK_TRANSFER_DAYS", None),
        PaymentMethod.ON_COLLECTION: getattr(settings, "SHOP_COLLECTION_DAYS", None),
    }.get(payment_method)
    if payment_method == getattr(PaymentMethod, "CARD", None) and minutes:
        return f"Your pieces are reserved for {minutes} minutes after you place your order, while you pay by card."
    if payment_method == PaymentMethod.ON_COLLECTION and days:
        return f"Your pieces are reserved for {days} days after you place your order: collect and pay in that time."
    if days:
        return f"Your pieces are reserved for {days} days after you place your order, while your transfer arrives."
    return "Your pieces are reserved for you from the moment you place your order."


@dataclass(frozen=True)
class ShippingOption:
    value: str
    label: str
    cost: Decimal
    total: Decimal  # the order total with this option, so the page's script never computes money


@dataclass(frozen=True)
class PaymentOption:
    radio: object  # the form's BoundWidget for this choice
    note: str
    collection_only: bool


def checkout_display(*, form: CheckoutForm, summary: CartSummary) -> dict:
    """What the checkout page shows besides the form: delivery prices, the chosen total, notes."""
    goods = summary.total
    chosen = form["shipping_method"].value() or ShippingMethod.STANDARD
    try:
        shipping = shipping_cost(method=chosen, goods_total=goods)
    except OrderError:  # an invalid choice was posted: price the default instead
        shipping = shipping_cost(method=ShippingMethod.STANDARD, goods_total=goods)
    return {
        "form": form,
        "summary": summary,
        "shipping": shipping,
        "total": goods + shipping,
        "shipping_options": [
            ShippingOption(value, label, cost, goods + cost)
            for value, label in ShippingMethod.choices
            for cost in [shipping_cost(method=value, goods_total=goods)]
        ],
        "payment_options": [
            PaymentOption(
                radio=radio,
                note=reservation_note(payment_method=radio.data["value"]),
                collection_only=radio.data["value"] in COLLECTION_ONLY_PAYMENTS,
            )
            for radio in form["payment_method"]
        ],
        "boutique": boutique(),
        # A choice only helps with several addresses (the default one already fills the fields).
        "show_saved_addresses": form.saved_addresses and form.fields["saved_address"].queryset.count() > 1,
    }
