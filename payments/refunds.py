"""Refunds: staff's (full or partial, from the admin), automatic ones (a payment that came too late),
those of a staff cancel (payments.cancel) and those made in Stripe's dashboard (recorded by the
charge.refunded webhook in payments.services).

Never more than paid minus refunded; each refund row has its idempotency key, so a retried request or
a double click never refunds twice. Stripe is asked outside the order's lock, once the row counts, and
the shopper is told (history and e-mail) only once Stripe accepted it. Only Stripe's refusal makes a
refund failed; when Stripe does not answer (a timeout may come after it refunded) the row stays pending,
still counted, and ``refunds_retry`` (run by the expiry timer) sends it again with the same key, as it
does a refund left pending by a process that died and an automatic one that failed.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Q, Sum
from django.utils import timezone

from catalog.money import format_money
from orders.models import Order, OrderStatus
from orders.workflow import order_event_record, order_refund_record, order_transition

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
    """Refund a payment that must go back, in full; the shopper hears of it once Stripe accepted it."""
    refund = Refund.objects.create(
        payment=payment,
        amount=payment.amount,
        source=RefundSource.AUTOMATIC,
        idempotency_key=f"auto-{payment.intent_id}",
    )
    order_event_record(order=order, note=f"Card payment {payment.intent_id} to be refunded in full: {reason}")
    transaction.on_commit(partial(refund_send, refund_id=refund.pk), robust=True)
    return refund


def payment_refund(
    *, payment: Payment, amount: Decimal, actor: AbstractBaseUser | None, restock: bool, idempotency_key: str
) -> Refund:
    """Staff refund, full or partial, never above paid minus refunded; the same key never refunds twice."""
    existing = Refund.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        if existing.status == RefundStatus.FAILED:
            raise RefundError("Stripe did not accept this refund; nothing was refunded. Reload the page to try again.")
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
    refund_send(refund_id=refund.pk)
    refund.refresh_from_db()
    if refund.status == RefundStatus.FAILED:
        raise RefundError("Stripe did not accept the refund; nothing was refunded. Please try again.")
    if refund.status == RefundStatus.PENDING:
        raise RefundError(
            "Stripe did not answer, so the refund may or may not have been made. It stays pending and the shop "
            "sends it again by itself; do not refund again. The shopper is told once Stripe confirms it."
        )
    return refund


def refund_send(*, refund_id: int, tell_shopper: bool = True, retry: bool = False) -> None:
    """Ask Stripe for a recorded refund (idempotent on the row's key); once accepted, record it and tell the shopper.

    ``retry``: an earlier request may have been made without us hearing of it, so Stripe is asked first.
    """
    refund = Refund.objects.select_related("payment").get(pk=refund_id)
    if refund.status != RefundStatus.PENDING:
        return
    key = f"refund-{refund.idempotency_key}"
    try:
        made = gateway.refund_find(intent_id=refund.payment.intent_id, idempotency_key=key) if retry else None
        stripe_id, status = made or gateway.refund_create(
            intent_id=refund.payment.intent_id,
            amount_minor=gateway.to_minor(refund.amount, refund.payment.currency),
            idempotency_key=key,
        )
    except gateway.RefundRefusedError as error:
        _refund_failed(refund=refund, error=str(error))
        return
    except gateway.GatewayError as error:
        # Maybe made at Stripe: it stays pending (still counted) and refunds_retry sends the same key again.
        logger.error(
            "refund_outcome_unknown",
            extra={
                "event": "refund_outcome_unknown",
                "refund": refund.pk,
                "source": refund.source,
                "error": str(error),
            },
        )
        return
    if status in ("failed", "canceled"):
        _refund_failed(refund=refund, error=f"Stripe answered {status}")
        return
    refund_record_made(refund_id=refund.pk, stripe_refund_id=stripe_id, tell_shopper=tell_shopper)
    logger.info("refund_sent", extra={"event": "refund_sent", "refund": refund.pk, "status": status})


def refund_record_made(*, refund_id: int, stripe_refund_id: str, tell_shopper: bool = True) -> bool:
    """A pending refund Stripe made: marked succeeded once, in the order's history, the shopper told."""
    with transaction.atomic():
        refund = Refund.objects.select_related("payment").get(pk=refund_id)
        order = Order.objects.select_for_update().get(pk=refund.payment.order_id)
        # Conditional: two senders of one row (the timer, a request, reconciliation) record it once.
        done = Refund.objects.filter(pk=refund.pk, status=RefundStatus.PENDING).update(
            stripe_refund_id=stripe_refund_id, status=RefundStatus.SUCCEEDED
        )
        if done:
            order_refund_record(
                order=order, amount=refund.amount, actor=refund.actor, note=_refund_note(refund), mail=tell_shopper
            )
            if refund.restock:
                # Here, not in the request: a refund the timer finishes puts the pieces back on sale too.
                _restock_cancel(order=order, refund=refund)
    return bool(done)


def _restock_cancel(*, order: Order, refund: Refund) -> None:
    if order.status != OrderStatus.PAID:
        # Shipped meanwhile: the money went back, the pieces did not; staff are told in the history and log.
        order_event_record(order=order, note="Refunded in full, but the order had moved on: pieces not restocked")
        logger.error("refund_restock_refused", extra={"event": "refund_restock_refused", "refund": refund.pk})
        return
    order_transition(
        order=order,
        to_status=OrderStatus.CANCELLED,
        actor=refund.actor,
        note="Refunded in full; pieces back on sale",
        amount=refund.amount,  # the cancellation e-mail says it went back to the card
    )


def _refund_note(refund: Refund) -> str:
    if refund.source == RefundSource.AUTOMATIC:
        return f"Card payment {refund.payment.intent_id} refunded in full"
    return f"Refunded {format_money(refund.amount, pence=True)} by card"


def _refund_failed(*, refund: Refund, error: str) -> None:
    # A failed refund no longer counts against what may be refunded; automatic ones are retried by the timer.
    Refund.objects.filter(pk=refund.pk, status=RefundStatus.PENDING).update(status=RefundStatus.FAILED)
    logger.error(
        "refund_failed",
        extra={"event": "refund_failed", "refund": refund.pk, "source": refund.source, "error": error},
    )


def refunds_retry(*, now: datetime | None = None) -> int:
    """Send again refunds left pending (a process died) and failed automatic ones; returns how many went through."""
    now = now or timezone.now()
    # A pending row younger than this may still be in the hands of the request that made it.
    settled = now - timedelta(minutes=settings.SHOP_REFUND_RETRY_AFTER_MINUTES)
    ids = list(
        Refund.objects.filter(
            Q(status=RefundStatus.PENDING, created_at__lt=settled)
            | Q(status=RefundStatus.FAILED, source=RefundSource.AUTOMATIC)
        )
        .order_by("pk")
        .values_list("pk", flat=True)[:200]
    )
    sent = 0
    for refund_id in ids:
        if not _refund_reopen(refund_id=refund_id):
            continue
        refund_send(refund_id=refund_id, retry=True)
        sent += Refund.objects.filter(pk=refund_id, status=RefundStatus.SUCCEEDED).exists()
    return sent


def _refund_reopen(*, refund_id: int) -> bool:
    """A failed automatic refund counts again (pending) before it is re-sent, if it still fits what was paid."""
    with transaction.atomic():
        refund = Refund.objects.select_related("payment").get(pk=refund_id)
        order = Order.objects.select_for_update().get(pk=refund.payment.order_id)
        refund = Refund.objects.select_related("payment").get(pk=refund_id)
        if refund.status == RefundStatus.PENDING:
            return True
        if refund.status != RefundStatus.FAILED:
            return False
        if refund.amount > payment_refundable(payment=refund.payment):
            # Staff refunded by hand meanwhile: sending it now would refund more than was paid. Closed once
            # (history, one log line), so no failed refund is left open for ever.
            Refund.objects.filter(pk=refund.pk).update(status=RefundStatus.SUPERSEDED)
            order_event_record(
                order=order,
                note=f"Failed refund of {format_money(refund.amount, pence=True)} closed: refunded another way",
            )
            logger.error("refund_retry_exceeds", extra={"event": "refund_retry_exceeds", "refund": refund.pk})
            return False
        Refund.objects.filter(pk=refund.pk).update(status=RefundStatus.PENDING)
    return True


def refund_key_issue() -> str:
    return uuid.uuid4().hex
