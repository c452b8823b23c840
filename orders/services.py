"""Order placement and payment start (the status workflow after that: orders.workflow).

Lock order everywhere: the cart row first, then the hold cap's advisory locks for the client address
and account (``orders.holds``, keys sorted), then variant rows in primary-key order (Oscar/Saleor
habit), so two checkouts that share pieces or a client queue up instead of deadlocking. Side effects run after
commit, never while rows are locked: e-mails are stored in the transaction (``orders.emails`` through
``mailqueue``) and sent by the worker once it commits.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from cart.cart import cart_summary, free_delivery_shortfall
from cart.models import Cart, CartLine
from cart.services import cart_clear
from catalog.models import SELLABLE_RELATED, ProductVariant
from catalog.money import format_money
from catalog.services.stock import variant_stock_move

from .emails import order_confirmation_queue
from .holds import HoldError, client_key_for, holds_alert, holds_check, holds_lock, holds_totals
from .models import Order, OrderEvent, OrderLine, OrderStatus, PaymentMethod, ShippingMethod
from .payment_instructions import PaymentInstructions, payment_instructions

logger = logging.getLogger("shop.orders")


# --- Errors -----------------------------------------------------------------------------------


class OrderError(Exception):
    """A checkout the shop refuses; ``str(error)`` is safe to show the shopper. Nothing was changed."""


class CartEmptyError(OrderError):
    def __init__(self) -> None:
        super().__init__("Your bag is empty.")


@dataclass(frozen=True)
class ShortLine:
    variant_id: int
    label: str
    requested: int
    available: int


class OutOfStockError(OrderError):
    """Some pieces are no longer available in the quantity asked for; ``short`` says which."""

    def __init__(self, short: list[ShortLine]) -> None:
        self.short = short
        names = "; ".join(f"{s.label}: {s.available} left" for s in short)
        super().__init__(f"Sorry, not enough stock for {names}.")


class PriceChangedError(OrderError):
    def __init__(self, total: Decimal) -> None:
        self.total = total
        super().__init__(
            f"Your bag or its prices changed while you were checking out: it now comes to {format_money(total)} "
            "before delivery. Please check the total and place your order again."
        )


class OrderTransitionError(OrderError):
    pass


class HoldLimitError(OrderError):
    """The hold cap (``orders.holds``) or the bag's size refuses this order; the message says what to do."""


# --- Shipping and address -----------------------------------------------------------------------


@dataclass(frozen=True)
class ShippingAddress:
    full_name: str
    address_line1: str
    city: str
    postcode: str
    country: str
    address_line2: str = ""
    phone: str = ""


def shipping_cost(*, method: str, goods_total: Decimal) -> Decimal:
    """Standard is free once the total before delivery (pieces and engraving) reaches
    SHOP_FREE_SHIPPING_THRESHOLD (``cart.cart.free_delivery_shortfall``); express always costs."""
    if method == ShippingMethod.STANDARD:
        if free_delivery_shortfall(goods_total=goods_total) == 0:
            return Decimal("0.00")
        return settings.SHOP_SHIPPING_STANDARD_FEE
    if method == ShippingMethod.EXPRESS:
        return settings.SHOP_SHIPPING_EXPRESS_FEE
    if method == ShippingMethod.COLLECT:
        return Decimal("0.00")
    raise OrderError("Please choose a delivery method.")


# --- Placement --------------------------------------------------------------------------------


ORDER_NUMBER_ATTEMPTS = 5


def _order_create_numbered(**fields) -> Order:
    """Insert the order under a fresh number, drawing again if a concurrent checkout took it first.

    ``order_number_generate`` checks a number is free, but two checkouts can draw the same one and
    both see it free; the unique constraint then refuses the second insert. Each try runs in its own
    savepoint, so a clash costs one more draw, not the checkout (which holds its locks meanwhile)."""
    for attempt in range(ORDER_NUMBER_ATTEMPTS):
        number = order_number_generate()
        try:
            with transaction.atomic():
                return Order.objects.create(number=number, **fields)
        except IntegrityError:
            clash = Order.objects.filter(number=number).exists()
            if not clash or attempt == ORDER_NUMBER_ATTEMPTS - 1:
                raise  # another constraint (the checkout token: handled by order_place), or no luck at all
            logger.warning("order_number_clash", extra={"event": "order_number_clash", "attempt": attempt + 1})
    raise AssertionError("unreachable")  # pragma: no cover


def order_number_generate() -> str:
    """A short, unguessable number for people ("MA-" + 8 digits); the unique constraint is the final word.

    Bounded: after a few taken numbers the last draw is returned anyway, and the insert's retry
    (``_order_create_numbered``) deals with a clash."""
    for _ in range(ORDER_NUMBER_ATTEMPTS):
        number = f"MA-{secrets.randbelow(90_000_000) + 10_000_000}"
        if not Order.objects.filter(number=number).exists():
            return number
    return number


def order_place(
    *,
    cart: Cart,
    checkout_token: uuid.UUID,
    email: str,
    shipping_address: ShippingAddress,
    shipping_method: str,
    gift_message: str,
    user: AbstractBaseUser | None,
    payment_method: str = PaymentMethod.BANK_TRANSFER,
    expected_goods_total: Decimal | None = None,
    session_orders: Sequence[str] = (),
    client_ip: str | None = None,
) -> Order:
    """Turn the cart into an order in one transaction; the same ``checkout_token`` always gives the same order.

    Raises ``CartEmptyError``, ``OutOfStockError``, ``PriceChangedError`` or ``HoldLimitError`` (nothing
    changed). ``session_orders``: numbers this browser session placed, and ``client_ip``: the address the
    shop trusts for this request, for the hold cap (``orders.holds``).
    """
    existing = Order.objects.filter(checkout_token=checkout_token).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            return _order_place_locked(
                cart=cart,
                checkout_token=checkout_token,
                email=email,
                shipping_address=shipping_address,
                shipping_method=shipping_method,
                gift_message=gift_message,
                user=user,
                payment_method=payment_method,
                expected_goods_total=expected_goods_total,
                session_orders=session_orders,
                client_ip=client_ip,
            )
    except HoldError as error:
        raise HoldLimitError(str(error)) from error
    except IntegrityError:
        # A concurrent submit with this token committed first: that order is the answer.
        existing = Order.objects.filter(checkout_token=checkout_token).first()
        if existing is not None:
            return existing
        raise


def _order_place_locked(
    *,
    cart: Cart,
    checkout_token: uuid.UUID,
    email: str,
    shipping_address: ShippingAddress,
    shipping_method: str,
    gift_message: str,
    user: AbstractBaseUser | None,
    payment_method: str,
    expected_goods_total: Decimal | None,
    session_orders: Sequence[str],
    client_ip: str | None,
) -> Order:
    if not Cart.objects.select_for_update().filter(pk=cart.pk).exists():
        raise CartEmptyError
    # Re-read under the cart lock: a twin submit may have placed the order while we waited.
    existing = Order.objects.filter(checkout_token=checkout_token).first()
    if existing is not None:
        return existing
    lines = list(CartLine.objects.filter(cart_id=cart.pk).order_by("created_at", "pk"))
    if not lines:
        raise CartEmptyError
    _bag_size_check(lines=lines)
    client_key = client_key_for(client_ip=client_ip)
    owner_id = user.pk if user is not None and user.is_authenticated else None
    # After the cart, before any variant: a checkout holding a variant never waits for a hold lock.
    holds_lock(client_key=client_key, user_id=owner_id)
    variants = variants_locked(sorted({line.variant_id for line in lines}))
    needed = _stock_check(lines=lines, variants=variants)
    for line in lines:
        line.variant = variants[line.variant_id]  # priced from the locked rows, never from earlier reads
    summary = cart_summary(cart, lines=lines)
    shipping = shipping_cost(method=shipping_method, goods_total=summary.total)
    total = summary.total + shipping
    if expected_goods_total is not None and expected_goods_total != summary.total:
        raise PriceChangedError(summary.total)
    held = holds_totals(
        client_key=client_key, session_orders=session_orders, user_id=owner_id, payment_method=payment_method
    )
    holds_check(held=held, pieces=summary.count, value=summary.total)
    # An order taking the last pieces of a variant (a one-of-a-kind piece, or the last two of a pair) held
    # offline is held briefly: nobody else can buy them meanwhile. ``stock`` is read before this order's move.
    one_of_a_kind = any(variants[variant_id].stock == quantity for variant_id, quantity in needed.items())

    order = _order_create_numbered(
        checkout_token=checkout_token,
        user=user if user is not None and user.is_authenticated else None,
        email=email,
        payment_method=payment_method,
        shipping_method=shipping_method,
        shipping_cost=shipping,
        subtotal=summary.subtotal,
        engraving_total=summary.engraving_total,
        total=total,
        gift_message=gift_message,
        payment_deadline=order_payment_deadline(
            payment_method=payment_method, placed_at=timezone.now(), one_of_a_kind=one_of_a_kind
        ),
        client_ip=client_ip if client_key else None,
        client_key=client_key,
        pieces=summary.count,
        one_of_a_kind=one_of_a_kind,
        **shipping_address.__dict__,
    )
    variant_stock_move(deltas={variant_id: -quantity for variant_id, quantity in needed.items()})
    _order_lines_create(order=order, items=summary.items)
    OrderEvent.objects.create(order=order, actor=order.user, to_status=order.status, note="Order placed")
    cart_clear(cart=cart)
    order_confirmation_queue(order=order)  # stored with the order; the worker sends it after commit
    transaction.on_commit(lambda: holds_alert(order=order, held=held))
    logger.info("order_placed", extra={"event": "order_placed", "order_number": order.number})
    return order


def _bag_size_check(*, lines: list[CartLine]) -> None:
    """The bag's own caps again at checkout (a bag merged at sign-in, or filled before a cap was lowered)."""
    pieces = sum(line.quantity for line in lines)
    if len(lines) > settings.SHOP_CART_MAX_LINES or pieces > settings.SHOP_CART_MAX_PIECES:
        raise HoldLimitError(
            f"One order can hold at most {settings.SHOP_CART_MAX_LINES} different pieces and "
            f"{settings.SHOP_CART_MAX_PIECES} pieces in all; your bag holds {len(lines)} different pieces, "
            f"{pieces} in all. Please take some out of your bag, or contact us for a larger order."
        )


def order_payment_deadline(*, payment_method: str, placed_at: datetime, one_of_a_kind: bool = False) -> datetime:
    """Until when an unpaid order keeps its pieces: minutes for a card, days for a transfer or a collection,
    at most SHOP_ONE_OF_A_KIND_HOLD_DAYS when it took the last piece of a variant."""
    if payment_method == PaymentMethod.CARD:
        return placed_at + timedelta(minutes=settings.SHOP_CARD_PAYMENT_MINUTES)
    days = settings.SHOP_BANK_TRANSFER_DAYS
    if payment_method == PaymentMethod.ON_COLLECTION:
        days = settings.SHOP_COLLECTION_DAYS
    if one_of_a_kind:
        days = min(days, settings.SHOP_ONE_OF_A_KIND_HOLD_DAYS)
    return placed_at + timedelta(days=days)


def variants_locked(variant_ids: list[int]) -> dict[int, ProductVariant]:
    # ORDER BY pk puts the row locks in a fixed order across all checkouts: no deadlock.
    rows = (
        ProductVariant.objects.select_for_update(of=("self",))
        .select_related(SELLABLE_RELATED)
        .filter(pk__in=variant_ids)
        .order_by("pk")
    )
    return {variant.pk: variant for variant in rows}


def _stock_check(*, lines: list[CartLine], variants: dict[int, ProductVariant]) -> dict[int, int]:
    """Quantities needed per variant (two engravings of one ring share its stock); raise if short."""
    needed: dict[int, int] = defaultdict(int)
    for line in lines:
        needed[line.variant_id] += line.quantity
    short = []
    for variant_id, quantity in needed.items():
        variant = variants.get(variant_id)
        sellable = variant is not None and variant.is_sellable  # the shop's one rule (catalog.models)
        available = variant.stock if sellable else 0
        if quantity > available:
            label = f"{variant.product.name} ({variant.options_label})" if variant else "A withdrawn piece"
            short.append(ShortLine(variant_id=variant_id, label=label, requested=quantity, available=available))
    if short:
        raise OutOfStockError(short)
    return dict(needed)


def _order_lines_create(*, order: Order, items) -> list[OrderLine]:
    return OrderLine.objects.bulk_create(
        OrderLine(
            order=order,
            variant=item.variant,
            product_name=item.product.name,
            sku=item.variant.sku,
            options_label=item.variant.options_label,
            unit_price=item.unit_price,
            quantity=item.quantity,
            engraving=item.engraving,
            engraving_fee=item.engraving_fee,
            line_total=item.line_total,
        )
        for item in items
    )


# --- Payment ----------------------------------------------------------------------------------


def payment_start(*, order: Order) -> PaymentInstructions:
    """Begin payment for a just-placed order. Called once by the checkout view, after commit, outside any lock.

    Bank transfer and pay on collection are offline: staff record the payment in the admin. A card
    order goes to the payments app's page (named by URL only: ``orders`` never imports ``payments``),
    which creates the PaymentIntent idempotently on the order, so a resubmitted checkout is harmless.
    """
    instructions = payment_instructions(order=order)
    if order.payment_method == PaymentMethod.CARD and order.status == OrderStatus.AWAITING_PAYMENT:
        url = reverse("payments:pay", kwargs={"number": order.number})
        return PaymentInstructions(**{**instructions.__dict__, "redirect_url": url})
    return instructions
