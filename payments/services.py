"""Taking a card payment and acting on Stripe's webhooks (refunds: payments.refunds; expiry: payments.expiry).

Every path that changes an order takes the order's row lock first (then variants by pk, through
``orders.workflow``), so the expiry job and a webhook for the same order queue up and one wins
cleanly. Stripe is called before a lock is taken or after the transaction commits, never inside one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from orders.models import Order, OrderStatus
from orders.workflow import order_event_record, order_refund_record, order_reinstate_paid, order_transition

from . import gateway
from .models import Payment, Refund, RefundSource, RefundStatus, StripeEvent
from .refunds import refund_automatically, refunded_total

logger = logging.getLogger("shop.payments")
security_log = logging.getLogger("shop.security")


class PaymentError(Exception):
    """A payment step the shop refuses; ``str()`` is safe to show. Nothing was charged by it."""


@dataclass(frozen=True)
class ChargeResult:
    status: str  # "succeeded", "requires_action", "processing", "declined"
    client_secret: str = ""
    message: str = ""


def payment_payable(*, order: Order) -> bool:
    """A card order can still be paid on our page: awaiting payment and within its deadline."""
    return order.is_payable_by_card


def payment_setup_start(*, order: Order) -> str:
    """The SetupIntent client secret the payment page's card element confirms against."""
    if not payment_payable(order=order):
        raise PaymentError("This order can no longer be paid by card.")
    try:
        return gateway.setup_intent_create(order_number=order.number)
    except gateway.GatewayError as error:
        raise PaymentError(str(error)) from error


def payment_charge(*, order: Order, payment_method_id: str) -> ChargeResult:
    """Charge the order's total (computed here, in minor units) to the card the browser set up.

    Idempotent per order and card: a retried request with the same card returns the same PaymentIntent.
    The order becomes paid only when Stripe's signed webhook says so (``payment_webhook_receive``).
    """
    if not payment_payable(order=order):
        raise PaymentError("This order can no longer be paid by card.")
    currency = settings.SHOP_CURRENCY
    try:
        intent = gateway.payment_intent_create(
            order_number=order.number,
            amount_minor=gateway.to_minor(order.total, currency),
            currency=currency,
            payment_method=payment_method_id,
            idempotency_key=f"order-{order.number}-pm-{payment_method_id}",
        )
    except gateway.CardDeclinedError as error:
        order_event_record(order=order, note="A card payment was declined")
        logger.info("payment_declined", extra={"event": "payment_declined", "order_number": order.number})
        return ChargeResult(status="declined", message=str(error))
    except gateway.GatewayError as error:
        raise PaymentError(str(error)) from error
    Payment.objects.update_or_create(
        intent_id=intent.id,
        create_defaults={"order": order, "amount": order.total, "currency": currency, "status": intent.status},
        defaults={"status": intent.status},
    )
    logger.info(
        "payment_intent_created",
        extra={"event": "payment_intent_created", "order_number": order.number, "status": intent.status},
    )
    secret = intent.client_secret if intent.status == "requires_action" else ""
    return ChargeResult(status=intent.status, client_secret=secret)


# --- Webhooks ---------------------------------------------------------------------------------


class WebhookSignatureError(Exception):
    pass


def payment_webhook_receive(*, payload: bytes, signature: str) -> str:
    """Verify and act on one Stripe event, once: the event id is recorded in the same transaction as its effect.

    Returns the outcome (for the log and the tests). Raises WebhookSignatureError for a forged or garbled body.
    """
    try:
        event = gateway.event_construct(payload=payload, signature=signature)
    except ValueError as error:
        security_log.warning("stripe_webhook_bad_signature", extra={"event": "stripe_webhook_bad_signature"})
        raise WebhookSignatureError from error
    handler = _HANDLERS.get(event["type"])
    with transaction.atomic():
        try:
            with transaction.atomic():
                record = StripeEvent.objects.create(event_id=event["id"], type=event["type"], outcome="received")
        except IntegrityError:
            return "duplicate"
        obj = event["data"]["object"]
        obj = obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)
        try:
            outcome = handler(obj) if handler else "ignored"
        except (KeyError, TypeError, ValueError):
            # Signed, so from Stripe, but not a shape we act on: undo any partial effect and change nothing.
            security_log.warning("stripe_webhook_malformed", extra={"event": "stripe_webhook_malformed"})
            transaction.set_rollback(True)
            return "malformed"
        record.outcome = outcome
        record.save(update_fields=["outcome"])
    logger.info("stripe_webhook", extra={"event": "stripe_webhook", "stripe_type": event["type"], "outcome": outcome})
    return outcome


def _order_for_intent(obj) -> tuple[Order | None, Payment | None]:
    """The order an intent belongs to, row-locked, and its Payment row if we have one (read under the lock)."""
    known = Payment.objects.filter(intent_id=obj["id"]).select_related("order").first()
    number = known.order.number if known else (obj.get("metadata") or {}).get("order_number")
    order = Order.objects.select_for_update().filter(number=number).first() if isinstance(number, str) else None
    if order is None:
        return None, None
    payment = Payment.objects.filter(intent_id=obj["id"], order=order).first()
    return order, payment


def _amount_matches(*, order: Order, obj) -> bool:
    currency = str(obj["currency"]).upper()
    expected = gateway.to_minor(order.total, settings.SHOP_CURRENCY)
    return currency == settings.SHOP_CURRENCY.upper() and int(obj["amount"]) == expected


def _on_intent_succeeded(obj) -> str:
    order, payment = _order_for_intent(obj)
    if order is None:
        security_log.warning("payment_unknown_order", extra={"event": "payment_unknown_order", "intent": obj["id"]})
        return "unknown_order"
    if not _amount_matches(order=order, obj=obj):
        security_log.warning(
            "payment_amount_mismatch",
            extra={"event": "payment_amount_mismatch", "order_number": order.number, "intent": obj["id"]},
        )
        return "amount_mismatch"
    if payment is None:  # the webhook beat the charge view's own write (or the charge view never wrote it)
        payment, _ = Payment.objects.get_or_create(
            intent_id=obj["id"],
            defaults={"order": order, "amount": order.total, "currency": settings.SHOP_CURRENCY, "status": ""},
        )
    if payment.succeeded_at is not None:
        return "already_recorded"
    payment.status = "succeeded"
    payment.succeeded_at = timezone.now()
    payment.save(update_fields=["status", "succeeded_at", "updated_at"])
    if order.status == OrderStatus.AWAITING_PAYMENT:
        # order_transition queues the shopper's "payment received" e-mail (mailqueue), in this transaction.
        order_transition(order=order, to_status=OrderStatus.PAID, actor=None, note=f"Card payment {obj['id']}")
        return "paid"
    if order.status == OrderStatus.CANCELLED:
        if order_reinstate_paid(order=order, note=f"Card payment {obj['id']} arrived after the deadline"):
            return "paid_late_reinstated"
        refund_automatically(
            order=order, payment=payment, reason="paid after its reservation ended and the pieces were sold"
        )
        return "paid_late_refunded"
    # Already paid by another intent (two tabs, two cards): the second payment goes back.
    refund_automatically(order=order, payment=payment, reason="a second payment for a paid order")
    return "duplicate_payment_refunded"


def _on_intent_failed(obj) -> str:
    order, payment = _order_for_intent(obj)
    if order is None or payment is None:
        return "unknown_order"
    if payment.succeeded_at is None:  # a late "failed" never undoes a success (events arrive out of order)
        payment.status = obj.get("status") or "requires_payment_method"
        payment.save(update_fields=["status", "updated_at"])
    return "failed_recorded"


def _on_charge_refunded(obj) -> str:
    """Reconcile refunds made in Stripe's dashboard: what Stripe refunded beyond what we recorded becomes a row."""
    intent_id = obj.get("payment_intent")
    payment = Payment.objects.filter(intent_id=intent_id).select_related("order").first() if intent_id else None
    if payment is None:
        return "unknown_order"
    order = Order.objects.select_for_update().get(pk=payment.order_id)
    refunded = gateway.from_minor(int(obj["amount_refunded"]), str(obj["currency"]))
    recorded = refunded_total(payment=payment, statuses=(RefundStatus.SUCCEEDED, RefundStatus.PENDING))
    if refunded <= recorded:
        return "refund_already_recorded"
    amount = refunded - recorded
    Refund.objects.create(
        payment=payment,
        amount=amount,
        status=RefundStatus.SUCCEEDED,
        source=RefundSource.STRIPE,
        idempotency_key=f"stripe-{obj['id']}-{int(obj['amount_refunded'])}",
    )
    order_refund_record(order=order, amount=amount, note="Refunded in Stripe's dashboard")
    return "refund_recorded"


_HANDLERS = {
    "payment_intent.succeeded": _on_intent_succeeded,
    "payment_intent.payment_failed": _on_intent_failed,
    "charge.refunded": _on_charge_refunded,
}
