"""Staff cancelling a card order (``orders.workflow.order_staff_cancel`` calls it through orders.payment_port).

Stripe first, outside any lock: every open PaymentIntent is cancelled, so none can be paid after the
order is cancelled (a 3-D Secure step finished later finds the intent cancelled). An intent Stripe
says already succeeded is recorded as paid and refunded with the rest of what was captured; once
Stripe accepted every refund the order is cancelled and the shopper's e-mail says what came back.
If Stripe does not answer, nothing is changed and staff are told to try again.
"""

from __future__ import annotations

import logging
import uuid
from decimal import Decimal
from functools import partial

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from orders.models import EventReason, Order, OrderStatus
from orders.services import OrderError, OrderTransitionError
from orders.workflow import order_allowed_transitions, order_transition

from . import gateway
from .expiry import OPEN_INTENT_STATUSES, intent_cancel
from .models import Payment, Refund, RefundSource, RefundStatus
from .refunds import payment_refundable, refund_send

logger = logging.getLogger("shop.payments")

STRIPE_SILENT = "Stripe did not answer; nothing was changed. Please try again in a minute."
FINISHED = ("succeeded", "canceled")


class CardPayments:
    """What orders may ask the payments app (registered in PaymentsConfig.ready)."""

    def order_has_card_intent(self, *, order: Order) -> bool:
        return Payment.objects.filter(order_id=order.pk).exists()

    def order_staff_cancel(self, *, order: Order, actor: AbstractBaseUser | None, note: str) -> Order:
        return card_order_staff_cancel(order=order, actor=actor, note=note)


def card_order_staff_cancel(*, order: Order, actor: AbstractBaseUser | None, note: str = "") -> Order:
    """End the order's intents at Stripe, refund what was captured, then cancel it (or change nothing)."""
    _cancellable_check(order=order)
    captured = _intents_end(order=order)
    refunds = _refunds_open(order=order, actor=actor, captured=captured)
    for refund_id in refunds:
        refund_send(refund_id=refund_id, tell_shopper=False)  # the cancellation e-mail says it
    if Refund.objects.filter(pk__in=refunds).exclude(status=RefundStatus.SUCCEEDED).exists():
        raise OrderError(
            f"Order {order.number}: Stripe did not accept the refund; the order was not cancelled. Please try again."
        )
    with transaction.atomic():
        locked = Order.objects.select_for_update().get(pk=order.pk)
        refunded = Refund.objects.filter(payment__order=locked, status=RefundStatus.SUCCEEDED).aggregate(
            total=Sum("amount")
        )["total"] or Decimal("0.00")
        cancelled = order_transition(
            order=locked,
            to_status=OrderStatus.CANCELLED,
            actor=actor,
            note=note,
            reason=EventReason.SHOP,
            amount=refunded,
        )
        # An intent the charge view made while Stripe was being asked: ended too (if paid, the webhook refunds it).
        late = locked.payments.filter(status__in=(*OPEN_INTENT_STATUSES, "")).exclude(intent_id__in=captured)
        for intent_id in late.values_list("intent_id", flat=True):
            transaction.on_commit(partial(intent_cancel, intent_id=intent_id), robust=True)
    logger.info(
        "card_order_staff_cancelled",
        extra={"event": "card_order_staff_cancelled", "order_number": order.number, "refunded": str(refunded)},
    )
    return cancelled


def _cancellable_check(*, order: Order) -> None:
    if OrderStatus.CANCELLED not in order_allowed_transitions(order=order):
        raise OrderTransitionError(f"Order {order.number} cannot be cancelled from {order.get_status_display()}.")


def _intents_end(*, order: Order) -> list[str]:
    """Cancel every intent Stripe could still take money on; returns those Stripe says succeeded (unrecorded)."""
    captured = []
    open_intents = Payment.objects.filter(order=order, succeeded_at__isnull=True).exclude(status="canceled")
    for payment in open_intents.order_by("pk"):
        try:
            status = gateway.payment_intent_cancel(intent_id=payment.intent_id)
        except gateway.GatewayError as error:
            raise OrderError(f"Order {order.number}: {STRIPE_SILENT}") from error
        if status == "processing":
            raise OrderError(
                f"Order {order.number}: a card payment is still being processed by the bank; nothing was changed. "
                "Please try again in a few minutes."
            )
        if status == "succeeded":
            captured.append(payment.intent_id)
        else:
            Payment.objects.filter(pk=payment.pk, succeeded_at__isnull=True).update(status=status)
    return captured


def _refunds_open(*, order: Order, actor: AbstractBaseUser | None, captured: list[str]) -> list[int]:
    """Under the order's lock: record captured payments and a pending refund of what is left on each."""
    with transaction.atomic():
        locked = Order.objects.select_for_update().get(pk=order.pk)
        _cancellable_check(order=locked)
        # Stripe says so (we asked it): the webhook, when it comes, finds the payment recorded and changes nothing.
        Payment.objects.filter(order=locked, intent_id__in=captured, succeeded_at__isnull=True).update(
            status="succeeded", succeeded_at=timezone.now()
        )
        refunds = []
        for payment in Payment.objects.filter(order=locked, succeeded_at__isnull=False).order_by("pk"):
            remaining = payment_refundable(payment=payment)
            if remaining <= 0:
                continue
            refunds.append(
                Refund.objects.create(
                    payment=payment,
                    amount=remaining,
                    source=RefundSource.STAFF,
                    actor=actor,
                    idempotency_key=f"cancel-{payment.intent_id}-{uuid.uuid4().hex[:12]}",
                ).pk
            )
    return refunds
