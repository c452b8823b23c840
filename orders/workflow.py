"""The order status workflow: every status change goes through ``order_transition``.

It checks the move is allowed, records an OrderEvent (who, when, from, to, note), returns stock on a
cancellation (once: cancelled is final), stores the carrier and tracking number on dispatch and queues
the shopper's e-mail, all under the order's row lock (tests/orders/test_status_entry_point.py fails on
any other code that sets a status). Cancelled is final, with one guarded exception: a card payment
that Stripe confirms after the order expired for want of it (never after a staff cancel) takes the
pieces again, if they are all still there. Staff cancel and "record payment" go through
``order_staff_cancel`` and ``order_payment_record``, which ask the payments app (orders.payment_port)
about the card side first.
"""

import logging
from collections import defaultdict
from decimal import Decimal

from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction

from catalog.services.stock import variant_stock_move

from .emails import order_refund_mail_queue, order_status_mail_queue
from .models import Carrier, EventReason, Order, OrderEvent, OrderStatus, PaymentMethod, ShippingMethod
from .payment_port import payment_port
from .services import OrderError, OrderTransitionError, variants_locked

logger = logging.getLogger("shop.orders")

ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    # Ready for collection straight from unpaid only for pay-on-collection orders (order_transition checks).
    OrderStatus.AWAITING_PAYMENT: frozenset(
        {OrderStatus.PAID, OrderStatus.READY_FOR_COLLECTION, OrderStatus.CANCELLED}
    ),
    OrderStatus.PAID: frozenset({OrderStatus.SHIPPED, OrderStatus.READY_FOR_COLLECTION, OrderStatus.CANCELLED}),
    OrderStatus.READY_FOR_COLLECTION: frozenset({OrderStatus.DELIVERED, OrderStatus.CANCELLED}),
    OrderStatus.SHIPPED: frozenset({OrderStatus.DELIVERED}),
    OrderStatus.DELIVERED: frozenset(),
    # Only a late card payment after a payment timeout, by the payments app, with the stock there.
    OrderStatus.CANCELLED: frozenset({OrderStatus.PAID}),
}


def order_transition(
    *,
    order: Order,
    to_status: str,
    actor: AbstractBaseUser | None,
    note: str = "",
    reason: str = "",
    carrier: str | None = None,
    tracking_number: str | None = None,
    amount: Decimal | None = None,
) -> Order:
    """Move an order along the workflow, record it and queue the shopper's e-mail; cancelling restocks once.

    The one entry point for status changes, so every path (admin, payments, expiry) tells the shopper.
    ``reason`` says why a cancellation happened (``EventReason``; the shop's decision by default);
    ``carrier``/``tracking_number`` are stored when the order ships (both or neither; the order's own if None);
    ``amount`` is what was refunded to the card with a cancellation (0: nothing was charged; its e-mail says which).
    """
    with transaction.atomic():
        locked = Order.objects.select_for_update().get(pk=order.pk)
        from_status = locked.status
        _transition_check(order=locked, to_status=to_status, actor=actor)
        update_fields = ["status", "updated_at"]
        if from_status == OrderStatus.CANCELLED:
            _stock_retake(order=locked)
        if to_status == OrderStatus.SHIPPED:
            update_fields += _shipment_set(order=locked, carrier=carrier, tracking_number=tracking_number)
        if to_status == OrderStatus.CANCELLED:
            reason = reason or EventReason.SHOP
            _stock_restore(order=locked)
        locked.status = to_status
        locked.save(update_fields=update_fields)
        event = OrderEvent.objects.create(
            order=locked,
            actor=actor,
            from_status=from_status,
            to_status=to_status,
            note=note[:500],
            reason=reason if to_status == OrderStatus.CANCELLED else "",
            amount=amount if to_status == OrderStatus.CANCELLED else None,
        )
        order_status_mail_queue(order=locked, event=event)
    logger.info(
        "order_transition",
        extra={"event": "order_transition", "order_number": locked.number, "from": from_status, "to": to_status},
    )
    return locked


def order_allowed_transitions(*, order: Order) -> list[str]:
    """The statuses this order may move to next (the admin shows one button for each)."""
    allowed = []
    for status in ALLOWED_TRANSITIONS.get(order.status, frozenset()):
        if status == OrderStatus.PAID and order.payment_method == PaymentMethod.CARD:
            continue  # Stripe's webhook marks it paid; "Record payment" would refuse
        try:
            _transition_check(order=order, to_status=status, actor=None, staff=True)
        except OrderTransitionError:
            continue
        allowed.append(status)
    return allowed


def _transition_check(*, order: Order, to_status: str, actor: AbstractBaseUser | None, staff: bool = False) -> None:
    if to_status not in ALLOWED_TRANSITIONS.get(order.status, frozenset()):
        raise _not_allowed(order=order, to_status=to_status)
    if order.status == OrderStatus.CANCELLED:
        # Reinstating: no person does it (staff are offered no button), and never after the shop's own cancel.
        if staff or actor is not None or order.payment_method != PaymentMethod.CARD:
            raise _not_allowed(order=order, to_status=to_status)
        reason = (
            order.events.filter(to_status=OrderStatus.CANCELLED)
            .order_by("-created_at", "-pk")
            .values_list("reason", flat=True)
            .first()
        )
        if reason != EventReason.PAYMENT_TIMEOUT:
            raise OrderTransitionError(f"Order {order.number} was cancelled by the shop: cancelled is final.")
    collect = order.shipping_method == ShippingMethod.COLLECT
    if to_status == OrderStatus.SHIPPED and collect:
        raise OrderTransitionError(f"Order {order.number} is for collection: mark it ready for collection instead.")
    if to_status == OrderStatus.READY_FOR_COLLECTION:
        if not collect:
            raise OrderTransitionError(f"Order {order.number} is to be delivered, not collected.")
        if order.status == OrderStatus.AWAITING_PAYMENT and order.payment_method != PaymentMethod.ON_COLLECTION:
            raise OrderTransitionError(f"Order {order.number} must be paid before it is ready for collection.")


def _not_allowed(*, order: Order, to_status: str) -> OrderTransitionError:
    label = OrderStatus(to_status).label if to_status in OrderStatus.values else to_status
    return OrderTransitionError(f"Order {order.number} cannot go from {order.get_status_display()} to {label}.")


def _shipment_set(*, order: Order, carrier: str | None, tracking_number: str | None) -> list[str]:
    carrier = order.carrier if carrier is None else carrier.strip()
    tracking_number = order.tracking_number if tracking_number is None else tracking_number.strip()
    if not carrier and not tracking_number:
        return []  # a parcel without tracking (staff's choice): the e-mail says so
    if carrier not in Carrier.values or not tracking_number:
        raise OrderTransitionError(f"Order {order.number}: enter both the carrier and the tracking number.")
    order.carrier, order.tracking_number = carrier, tracking_number
    try:
        order.clean_fields(exclude=[f.name for f in Order._meta.fields if f.name not in ("carrier", "tracking_number")])
    except ValidationError as error:
        raise OrderTransitionError(f"Order {order.number}: {' '.join(error.messages)}") from error
    return ["carrier", "tracking_number"]


def order_refund_record(
    *, order: Order, amount: Decimal, actor: AbstractBaseUser | None = None, note: str = "", mail: bool = True
) -> OrderEvent:
    """Record a refund in the order's history (its status stays) and queue the shopper's e-mail.

    Called by whatever moved the money (the payments app), inside its transaction, once Stripe accepted
    the refund. ``mail=False`` when another e-mail tells of it (a staff cancel's says what was refunded).
    """
    if amount <= 0:
        raise OrderError("A refund must be more than zero.")
    event = OrderEvent.objects.create(
        order=order,
        actor=actor,
        from_status=order.status,
        to_status=order.status,
        note=note[:500],
        reason=EventReason.REFUND,
        amount=amount,
    )
    if mail:
        order_refund_mail_queue(order=order, event=event)
    return event


def order_staff_cancel(*, order: Order, actor: AbstractBaseUser | None, note: str = "") -> Order:
    """Staff cancel: a card order's intents end and its captured money is refunded first (payments app)."""
    port = payment_port()
    if order.payment_method == PaymentMethod.CARD and port is not None:
        return port.order_staff_cancel(order=order, actor=actor, note=note)
    return order_transition(
        order=order, to_status=OrderStatus.CANCELLED, actor=actor, note=note, reason=EventReason.SHOP
    )


def order_payment_record(*, order: Order, actor: AbstractBaseUser | None, note: str = "") -> Order:
    """Staff record a payment received by hand (bank transfer, at the boutique); never for a card order."""
    # Every card order, not only one with an intent yet: the shopper's charge may be on its way to Stripe.
    if order.payment_method == PaymentMethod.CARD:
        raise OrderError(
            f"Order {order.number} has a card payment in progress with Stripe: it is marked paid when Stripe "
            "confirms the payment, never by hand."
        )
    if order.status != OrderStatus.AWAITING_PAYMENT:
        raise _not_allowed(order=order, to_status=OrderStatus.PAID)
    return order_transition(order=order, to_status=OrderStatus.PAID, actor=actor, note=note)


def order_event_record(*, order: Order, note: str, actor: AbstractBaseUser | None = None) -> OrderEvent:
    """An event that changes no status (a refund, a payment attempt): the order's history tells it."""
    return OrderEvent.objects.create(
        order=order, actor=actor, from_status=order.status, to_status=order.status, note=note[:500]
    )


def _stock_retake(*, order: Order) -> None:
    # A late payment reinstates the order only with every piece there: never paid with no stock behind it.
    needed: dict[int, int] = defaultdict(int)
    for variant_id, quantity in order.lines.filter(variant__isnull=False).values_list("variant_id", "quantity"):
        needed[variant_id] += quantity
    if order.lines.filter(variant__isnull=True).exists():
        raise OrderTransitionError(f"Order {order.number}: a piece was withdrawn from sale.")
    variants = variants_locked(sorted(needed))
    if any(variant_id not in variants or variants[variant_id].stock < qty for variant_id, qty in needed.items()):
        raise OrderTransitionError(f"Order {order.number}: its pieces are no longer all in stock.")
    variant_stock_move(deltas={variant_id: -quantity for variant_id, quantity in needed.items()})


def _stock_restore(*, order: Order) -> None:
    # Runs under the order's row lock, and cancelled is a final state, so this happens once.
    returned: dict[int, int] = defaultdict(int)
    for variant_id, quantity in order.lines.filter(variant__isnull=False).values_list("variant_id", "quantity"):
        returned[variant_id] += quantity
    variants_locked(sorted(returned))
    variant_stock_move(deltas=returned)
