"""Staff cancelling a card order (``orders.workflow.order_staff_cancel`` calls it through orders.payment_port).

Stripe first, outside any lock: every open PaymentIntent is cancelled, so none can be paid after the
order is cancelled (a 3-D Secure step finished later finds the intent cancelled). An intent Stripe
says already succeeded is recorded as paid and refunded with the rest of what was captured; once
Stripe accepted every refund the order is cancelled and the shopper's e-mail says what came back.
If Stripe does not answer, nothing is changed and staff are told to try again.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from functools import partial

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from catalog.money import format_money
from orders.emails import order_refund_mail_queue
from orders.models import EventReason, Order, OrderStatus
from orders.services import OrderError, OrderTransitionError
from orders.workflow import order_allowed_transitions, order_transition

from . import gateway
from .expiry import intent_cancel
from .models import Payment, Refund, RefundSource, RefundStatus
from .refunds import payment_refundable, refund_automatically, refund_send

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
    for refund_id, again in refunds.items():
        refund_send(refund_id=refund_id, tell_shopper=False, retry=again)  # the cancellation e-mail says it
    if Refund.objects.filter(pk__in=list(refunds)).exclude(status=RefundStatus.SUCCEEDED).exists():
        _paid_if_charged(order=order, captured=captured)
    if Refund.objects.filter(pk__in=list(refunds), status=RefundStatus.PENDING).exists():
        # It may have been made: never sent under a new key. The timer sends it again and then cancels.
        raise OrderError(
            f"Order {order.number}: Stripe did not answer about the refund. It stays pending and the shop sends it "
            "again by itself, then cancels the order; do not refund it by hand."
        )
    if Refund.objects.filter(pk__in=list(refunds)).exclude(status=RefundStatus.SUCCEEDED).exists():
        raise OrderError(
            f"Order {order.number}: Stripe did not accept the refund; the order was not cancelled. Please try again."
        )
    with transaction.atomic():
        locked = Order.objects.select_for_update().get(pk=order.pk)
        try:
            cancelled = order_transition(
                order=locked,
                to_status=OrderStatus.CANCELLED,
                actor=actor,
                note=note,
                reason=EventReason.SHOP,
                amount=_refunded(order=locked),
            )
        except OrderTransitionError:
            # A colleague moved it on (shipped) while Stripe refunded: the money is back, so the shopper is
            # told of it now (no cancellation e-mail will), and staff learn exactly what happened.
            refunded = _refunds_told(order=locked, refund_ids=list(refunds))
            moved_on = locked.get_status_display()
        else:
            moved_on = ""
            # A payment the webhook recorded while Stripe was being asked is not kept: it goes back in full.
            for payment in locked.payments.filter(succeeded_at__isnull=False).exclude(refunds__pk__in=list(refunds)):
                if payment_refundable(payment=payment) == payment.amount:
                    reason = "paid while the order was being cancelled"
                    refund_automatically(order=locked, payment=payment, reason=reason)
            # Any other intent not known to be finished (the charge view made it meanwhile) is ended too; if
            # it was paid, its webhook finds the order cancelled and refunds it.
            late = locked.payments.filter(succeeded_at__isnull=True).exclude(status="canceled")
            for intent_id in late.exclude(intent_id__in=captured).values_list("intent_id", flat=True):
                transaction.on_commit(partial(intent_cancel, intent_id=intent_id), robust=True)
    if moved_on:
        logger.error(
            "cancel_refunded_but_moved_on",
            extra={"event": "cancel_refunded_but_moved_on", "order_number": order.number, "refunded": str(refunded)},
        )
        raise OrderError(
            f"Order {order.number} was refunded {format_money(refunded, pence=True)} at Stripe, but meanwhile it "
            f"became {moved_on}, so it was not cancelled. The shopper has been e-mailed about the refund."
        )
    logger.info(
        "card_order_staff_cancelled",
        extra={
            "event": "card_order_staff_cancelled",
            "order_number": order.number,
            "refunded": str(_refunded(order=cancelled)),
        },
    )
    return cancelled


def _refunds_told(*, order: Order, refund_ids: list[int]) -> Decimal:
    """E-mail the shopper each refund of this cancel (recorded without an e-mail); returns their total."""
    total = Decimal("0.00")
    for refund in Refund.objects.filter(pk__in=refund_ids, status=RefundStatus.SUCCEEDED).order_by("pk"):
        event = order.events.filter(reason=EventReason.REFUND, amount=refund.amount).order_by("-pk").first()
        if event is not None:
            order_refund_mail_queue(order=order, event=event)
        total += refund.amount
    return total


def _refunded(*, order: Order) -> Decimal:
    return Refund.objects.filter(payment__order=order, status=RefundStatus.SUCCEEDED).aggregate(total=Sum("amount"))[
        "total"
    ] or Decimal("0.00")


def _paid_if_charged(*, order: Order, captured: list[str]) -> None:
    """The cancel stops short with money taken: as the webhook would, the order becomes paid.

    Left awaiting payment, expiry would defer on it for ever (Stripe says succeeded) and the late webhook
    would find the payment recorded and change nothing: a charged shopper with an unpaid order.
    """
    with transaction.atomic():
        locked = Order.objects.select_for_update().get(pk=order.pk)
        if locked.status == OrderStatus.AWAITING_PAYMENT and captured:
            note = f"Card payment {captured[0]} (seen when staff cancelled)"
            order_transition(order=locked, to_status=OrderStatus.PAID, actor=None, note=note)


def cancels_finish() -> int:
    """Cancel the orders whose staff cancel waited on a refund the timer has since made; returns how many."""
    waiting = (
        Order.objects.exclude(status=OrderStatus.CANCELLED)
        .filter(
            payments__refunds__idempotency_key__startswith="cancel-",
            payments__refunds__status=RefundStatus.SUCCEEDED,
        )
        .exclude(payments__refunds__status=RefundStatus.PENDING)
        .distinct()
        .order_by("pk")
    )
    finished = 0
    for order in waiting[:200]:
        if any(payment_refundable(payment=payment) > 0 for payment in order.payments.all()):
            continue  # money still held: staff decide (a cancel refund always returns what was left)
        asked = Refund.objects.filter(payment__order=order, idempotency_key__startswith="cancel-").latest("pk")
        try:
            card_order_staff_cancel(order=order, actor=asked.actor, note="Cancelled once Stripe confirmed the refund")
        except OrderError as error:
            logger.error(
                "cancel_finish_refused",
                extra={"event": "cancel_finish_refused", "order_number": order.number, "error": str(error)},
            )
            continue
        finished += 1
    return finished


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


def _refunds_open(*, order: Order, actor: AbstractBaseUser | None, captured: list[str]) -> dict[int, bool]:
    """Under the order's lock: record captured payments and a pending refund of what is left on each.

    Returns {refund id: sent before} (one sent before may have been made at Stripe: it is looked for first).
    """
    with transaction.atomic():
        locked = Order.objects.select_for_update().get(pk=order.pk)
        _cancellable_check(order=locked)
        # Stripe says so (we asked it): the webhook, when it comes, finds the payment recorded and changes nothing.
        Payment.objects.filter(order=locked, intent_id__in=captured, succeeded_at__isnull=True).update(
            status="succeeded", succeeded_at=timezone.now()
        )
        # Refunds a previous attempt left pending go again under their own key (Stripe may have made them).
        earlier = Refund.objects.filter(
            payment__order=locked, status=RefundStatus.PENDING, idempotency_key__startswith="cancel-"
        )
        refunds = dict.fromkeys(earlier.order_by("pk").values_list("pk", flat=True), True)
        for payment in Payment.objects.filter(order=locked, succeeded_at__isnull=False).order_by("pk"):
            remaining = payment_refundable(payment=payment)
            if remaining <= 0:
                continue
            # Stable per payment and attempt: only a refund Stripe refused is asked for again under a new key.
            refused = payment.refunds.filter(
                idempotency_key__startswith=f"cancel-{payment.intent_id}", status=RefundStatus.FAILED
            ).count()
            refund = Refund.objects.create(
                payment=payment,
                amount=remaining,
                source=RefundSource.STAFF,
                actor=actor,
                idempotency_key=f"cancel-{payment.intent_id}-{refused}",
            )
            refunds[refund.pk] = False
    return refunds
