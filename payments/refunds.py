"""Refunds: staff's (full or partial, from the admin), automatic ones (a payment that came too late) and
those made in Stripe's dashboard (recorded by the charge.refunded webhook in payments.services).

Never more than paid minus refunded; each refund row has its idempotency key, so a retried request or
a double click never refunds twice. Stripe is asked outside the order's lock, once the row counts.
"""

from __future__ import annotations

import logging
import uuid
from decimal import Decimal
from functools import partial

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Sum

from catalog.money import format_money
from orders.models import Order, OrderStatus
from orders.workflow import order_refund_record, order_transition

from . import gateway
from .models import Payment, Refund, RefundSource, RefundStatus

logger = logging.getLogger("shop.payments")


class RefundError(Exception):
    """A refund the shop refuses; ``str()`` is safe to show staff."""


def refunded_total(*, payment: Payment, statuses=(RefundStatus.SUCCEEDED, RefundStatus.PENDING)) -> Decimal:
    total = payment.refunds.filter(status__in=statuses).aggregate(total=Sum("amount"))["total"]
    return total or Decimal("0.00")


def payment_refundable(*, payment: Payment) -> Decimal:
    """Paid minus refunded (pending refunds count: they may still go through)."""
    if payment.succeeded_at is None:
        return Decimal("0.00")
    return payment.amount - refunded_total(payment=payment)


def refund_automatically(*, order: Order, payment: Payment, reason: str) -> Refund:
    refund = Refund.objects.create(
        payment=payment,
        amount=payment.amount,
        source=RefundSource.AUTOMATIC,
        idempotency_key=f"auto-{payment.intent_id}",
    )
    order_refund_record(
        order=order, amount=payment.amount, note=f"Card payment {payment.intent_id} refunded in full: {reason}"
    )
    transaction.on_commit(partial(_refund_send, refund_id=refund.pk), robust=True)
    return refund


def payment_refund(
    *, payment: Payment, amount: Decimal, actor: AbstractBaseUser | None, restock: bool, idempotency_key: str
) -> Refund:
    """Staff refund, full or partial, never above paid minus refunded; the same key never refunds twice."""
    existing = Refund.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        return existing
    amount = Decimal(amount).quantize(Decimal("0.01"))
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=payment.order_id)
        payment = Payment.objects.get(pk=payment.pk)
        if amount <= 0:
            raise RefundError("Enter an amount above zero.")
        remaining = payment_refundable(payment=payment)
        if amount > remaining:
            raise RefundError(f"At most {format_money(remaining, pence=True)} can still be refunded for this payment.")
        full = amount == remaining and remaining == payment.amount
        if restock and not full:
            raise RefundError("Pieces go back on sale only with a full refund.")
        if restock and order.status != OrderStatus.PAID:
            raise RefundError("Only a paid order that has not shipped can put its pieces back on sale.")
        try:
            with transaction.atomic():
                refund = Refund.objects.create(
                    payment=payment,
                    amount=amount,
                    source=RefundSource.STAFF,
                    idempotency_key=idempotency_key,
                    restock=restock,
                    actor=actor,
                )
        except IntegrityError:
            return Refund.objects.get(idempotency_key=idempotency_key)
    # Outside the lock: the pending row already counts against what may still be refunded.
    _refund_send(refund_id=refund.pk)
    refund.refresh_from_db()
    if refund.status == RefundStatus.FAILED:
        raise RefundError("Stripe did not accept the refund; nothing was refunded. Please try again.")
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=payment.order_id)
        order_refund_record(
            order=order, amount=amount, actor=actor, note=f"Refunded {format_money(amount, pence=True)} by card"
        )
        if restock:
            order_transition(
                order=order, to_status=OrderStatus.CANCELLED, actor=actor, note="Refunded in full; pieces back on sale"
            )
    return refund


def _refund_send(*, refund_id: int) -> None:
    """Ask Stripe for a recorded refund (idempotent on the row's key) and store the answer."""
    refund = Refund.objects.select_related("payment").get(pk=refund_id)
    if refund.status != RefundStatus.PENDING:
        return
    try:
        stripe_id, status = gateway.refund_create(
            intent_id=refund.payment.intent_id,
            amount_minor=gateway.to_minor(refund.amount, refund.payment.currency),
            idempotency_key=f"refund-{refund.idempotency_key}",
        )
    except gateway.GatewayError as error:
        Refund.objects.filter(pk=refund.pk).update(status=RefundStatus.FAILED)
        logger.error("refund_failed", extra={"event": "refund_failed", "refund": refund.pk, "error": str(error)})
        return
    new_status = RefundStatus.FAILED if status in ("failed", "canceled") else RefundStatus.SUCCEEDED
    Refund.objects.filter(pk=refund.pk).update(stripe_refund_id=stripe_id, status=new_status)
    logger.info("refund_sent", extra={"event": "refund_sent", "refund": refund.pk, "status": status})


def refund_key_issue() -> str:
    return uuid.uuid4().hex
