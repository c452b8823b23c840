"""The order status workflow: every status change goes through ``order_transition``.

It checks the move is allowed, records an OrderEvent (who, when, from, to, note), returns stock on a
cancellation (once: cancelled is final), stores the carrier and tracking number on dispatch and queues
the shopper's e-mail, all under the order's row lock (tests/orders/test_status_entry_point.py fails on
any other code that sets a status). Refund records and reinstating a paid order after expiry live
here too, since they write the same history.
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
    OrderStatus.CANCELLED: frozenset(),
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
) -> Order:
    """Move an order along the workflow, record it and queue the shopper's e-mail; cancelling restocks once.

    The one entry point for status changes, so every path (admin, payments, expiry) tells the shopper.
    ``reason`` says why a cancellation happened (``EventReason``; the shop's decision by default);
    ``carrier``/``tracking_number`` are stored when the order ships (both or neither; the order's own if None).
    """
    with transaction.atomic():
        locked = Order.objects.select_for_update().get(pk=order.pk)
        from_status = locked.status
        _transition_check(order=locked, to_status=to_status)
        update_fields = ["status", "updated_at"]
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
        try:
            _transition_check(order=order, to_status=status)
        except OrderTransitionError:
            continue
        allowed.append(status)
    return allowed


def _transition_check(*, order: Order, to_status: str) -> None:
    if to_status not in ALLOWED_TRANSITIONS.get(order.status, frozenset()):
        raise OrderTransitionError(
            f"Order {order.number} cannot go from {order.get_status_display()} to "
            f"{OrderStatus(to_status).label if to_status in OrderStatus.values else to_status}."
        )
    collect = order.shipping_method == ShippingMethod.COLLECT
    if to_status == OrderStatus.SHIPPED and collect:
        raise OrderTransitionError(f"Order {order.number} is for collection: mark it ready for collection instead.")
    if to_status == OrderStatus.READY_FOR_COLLECTION:
        if not collect:
            raise OrderTransitionError(f"Order {order.number} is to be delivered, not collected.")
        if order.status == OrderStatus.AWAITING_PAYMENT and order.payment_method != PaymentMethod.ON_COLLECTION:
            raise OrderTransitionError(f"Order {order.number} must be paid before it is ready for collection.")


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
    *, order: Order, amount: Decimal, actor: AbstractBaseUser | None = None, note: str = ""
) -> OrderEvent:
    """Record a refund in the order's history (its status stays) and queue the shopper's e-mail.

    Called by whatever moved the money (the payments app), inside its transaction.
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
    order_refund_mail_queue(order=order, event=event)
    return event


def order_reinstate_paid(*, order: Order, note: str) -> bool:
    """A cancelled order was paid after all (a card paid past its deadline): take its pieces again and mark it paid.

    The caller holds the order's row lock. Returns False, changing nothing, when any piece is no longer
    there: the caller then refunds. Never an order that is paid with no stock behind it.
    """
    if order.status != OrderStatus.CANCELLED:
        raise OrderTransitionError(f"Order {order.number} is not cancelled.")
    needed: dict[int, int] = defaultdict(int)
    for variant_id, quantity in order.lines.filter(variant__isnull=False).values_list("variant_id", "quantity"):
        needed[variant_id] += quantity
    if order.lines.filter(variant__isnull=True).exists():
        return False  # a withdrawn piece cannot be taken again
    variants = variants_locked(sorted(needed))
    if any(variant_id not in variants or variants[variant_id].stock < qty for variant_id, qty in needed.items()):
        return False
    variant_stock_move(deltas={variant_id: -quantity for variant_id, quantity in needed.items()})
    order.status = OrderStatus.PAID
    order.save(update_fields=["status", "updated_at"])
    event = OrderEvent.objects.create(
        order=order, from_status=OrderStatus.CANCELLED, to_status=OrderStatus.PAID, note=note[:500]
    )
    order_status_mail_queue(order=order, event=event)  # the shopper hears "paid", as through order_transition
    logger.info("order_reinstated", extra={"event": "order_reinstated", "order_number": order.number})
    return True


def order_event_record(*, order: Order, note: str, actor: AbstractBaseUser | None = None) -> OrderEvent:
    """An event that changes no status (a refund, a payment attempt): the order's history tells it."""
    return OrderEvent.objects.create(
        order=order, actor=actor, from_status=order.status, to_status=order.status, note=note[:500]
    )


def _stock_restore(*, order: Order) -> None:
    # Runs under the order's row lock, and cancelled is a final state, so this happens once.
    returned: dict[int, int] = defaultdict(int)
    for variant_id, quantity in order.lines.filter(variant__isnull=False).values_list("variant_id", "quantity"):
        returned[variant_id] += quantity
    variants_locked(sorted(returned))
    variant_stock_move(deltas=returned)
