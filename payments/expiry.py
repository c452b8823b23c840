"""Reservations that end: unpaid orders past their payment deadline are cancelled (their pieces back
on sale, once) and their open PaymentIntents cancelled at Stripe. Run every 5 minutes by
``manage.py expire_unpaid_orders`` (deploy/jewelry-expire-orders.timer), which then retries refunds.

A card order with an intent is expired only once Stripe says none of its intents succeeded or is
processing (asked outside any lock): a payment the webhook has not confirmed yet is left to the webhook,
and an ERROR ``payment_unconfirmed`` is logged once it is late by SHOP_PAYMENT_UNCONFIRMED_ALARM_MINUTES.
If Stripe does not answer, such an order waits for the next run; a bank transfer expires as before.
The order's row lock orders expiry against a webhook for the same order: one wins cleanly, and a
payment that lands after expiry is handled by payments.services (pieces taken again, or refunded).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from orders.models import EventReason, Order, OrderStatus
from orders.services import OrderError
from orders.workflow import order_transition

from . import gateway
from .models import Payment

logger = logging.getLogger("shop.payments")

# A PaymentIntent in one of these can still be paid: expiry cancels it at Stripe.
OPEN_INTENT_STATUSES = ("requires_payment_method", "requires_confirmation", "requires_action", "processing")
# Money taken or being taken: the order is the webhook's to settle, never expiry's.
TAKING_STATUSES = ("succeeded", "processing")


def orders_expire_overdue(*, now=None) -> list[str]:
    """Cancel unpaid orders past their deadline (stock back once) and cancel their open PaymentIntents."""
    now = now or timezone.now()
    candidates = list(
        Order.objects.filter(status=OrderStatus.AWAITING_PAYMENT, payment_deadline__lt=now)
        .order_by("payment_deadline", "pk")
        .values_list("pk", "number", "payment_deadline")[:500]
    )
    intents: dict[int, list[str]] = defaultdict(list)
    for order_id, intent_id in (
        Payment.objects.filter(order_id__in=[pk for pk, _, _ in candidates])
        .exclude(status="canceled")
        .order_by("pk")
        .values_list("order_id", "intent_id")
    ):
        intents[order_id].append(intent_id)
    expired = []
    for order_id, number, deadline in candidates:
        if not _stripe_lets_expire(number=number, deadline=deadline, intent_ids=intents[order_id], now=now):
            continue
        if order_expire(order_id=order_id, now=now):
            expired.append(number)
    return expired


def _stripe_lets_expire(*, number: str, deadline, intent_ids: list[str], now) -> bool:
    """No intent of the order succeeded or is processing at Stripe (asked now, outside any lock)."""
    for intent_id in intent_ids:
        try:
            status = gateway.payment_intent_status(intent_id=intent_id)
        except gateway.GatewayError:
            logger.warning("order_expiry_deferred", extra={"event": "order_expiry_deferred", "order_number": number})
            return False  # never cancel what may have been paid: the next run asks again
        if status in TAKING_STATUSES:
            if now - deadline > timedelta(minutes=settings.SHOP_PAYMENT_UNCONFIRMED_ALARM_MINUTES):
                logger.error(
                    "payment_unconfirmed",
                    extra={
                        "event": "payment_unconfirmed",
                        "order_number": number,
                        "intent": intent_id,
                        "status": status,
                    },
                )
            return False
    return True


def order_expire(*, order_id: int, now=None) -> bool:
    """Cancel one overdue unpaid order under its row lock; False if a payment (or anything else) got there first."""
    now = now or timezone.now()
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id)
        if order.status != OrderStatus.AWAITING_PAYMENT or not order.payment_deadline or order.payment_deadline >= now:
            return False
        try:
            order_transition(
                order=order,
                to_status=OrderStatus.CANCELLED,
                actor=None,
                note="Not paid by the deadline",
                reason=EventReason.PAYMENT_TIMEOUT,
            )
        except OrderError:
            return False
        intents = list(
            order.payments.filter(status__in=(*OPEN_INTENT_STATUSES, "")).values_list("intent_id", flat=True)
        )
        for intent_id in intents:
            transaction.on_commit(partial(intent_cancel, intent_id=intent_id), robust=True)
    logger.info("order_expired", extra={"event": "order_expired", "order_number": order.number})
    return True


def intent_cancel(*, intent_id: str) -> None:
    """End an intent at Stripe after the order's cancellation committed (expiry, and staff cancel's stragglers)."""
    try:
        status = gateway.payment_intent_cancel(intent_id=intent_id)
    except gateway.GatewayError:
        # It stays payable at Stripe; if it is paid, the webhook takes the pieces again or refunds.
        logger.error(
            "payment_intent_cancel_failed", extra={"event": "payment_intent_cancel_failed", "intent": intent_id}
        )
        return
    Payment.objects.filter(intent_id=intent_id).exclude(status="succeeded").update(status=status)
