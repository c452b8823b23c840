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
from orders.services import OrderTransitionError
from orders.workflow import order_event_record, order_refund_record, order_transition

from . import gateway
from .models import CardSetup, Payment, Refund, RefundSource, RefundStatus, StripeEvent
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
    """The SetupIntent client secret the card element confirms against: the order's own while still usable."""
    if not payment_payable(order=order):
        raise PaymentError("This order can no longer be paid by card.")
    # A reload must not mint a SetupIntent (each one lets a card be checked at Stripe): reuse the order's.
    known = CardSetup.objects.filter(order=order).first()
    try:
        if known and gateway.setup_intent_status(setup_intent_id=known.setup_intent_id) == "requires_payment_method":
            return known.client_secret
        setup_intent_id, client_secret = gateway.setup_intent_create(order_number=order.number)
    except gateway.GatewayError as error:
        raise PaymentError(str(error)) from error
    CardSetup.objects.update_or_create(
        order=order, defaults={"setup_intent_id": setup_intent_id, "client_secret": client_secret}
    )
    return client_secret


def payment_setup_revoke(*, order: Order) -> None:
    """End the order's SetupIntent at Stripe (the charge limit tripped): a secret handed out checks no more cards."""
    known = CardSetup.objects.filter(order=order).first()
    if known is None:
        return
    try:
        gateway.setup_intent_cancel(setup_intent_id=known.setup_intent_id)
    except gateway.GatewayError:
        # Kept, so the next limited request tries again.
        logger.error(
            "setup_intent_cancel_failed", extra={"event": "setup_intent_cancel_failed", "order_number": order.number}
        )
        return
    known.delete()
    security_log.warning("card_setup_revoked", extra={"event": "card_setup_revoked", "order_number": order.number})


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
    """Not from Stripe (or garbled on the way): refused with 400, nothing changed."""


class WebhookShapeError(Exception):
    """Signed, but without the id, type or object every event has: refused with 400 before any handler runs."""


class WebhookHandlerError(Exception):
    """Our own handler failed: rolled back, not recorded as seen, answered 500 so that Stripe sends it again."""


def payment_webhook_receive(*, payload: bytes, signature: str) -> str:
    """Verify and act on one Stripe event, once: the event id is recorded in the same transaction as its effect.

    Returns the outcome (for the log and the tests). Raises WebhookSignatureError for a forged or garbled
    body, WebhookShapeError for a signed event without the fields we read, WebhookHandlerError when our
    own code failed on it (nothing kept, so Stripe's retry is handled afresh).
    """
    try:
        event = gateway.event_construct(payload=payload, signature=signature)
    except ValueError as error:
        security_log.warning("stripe_webhook_bad_signature", extra={"event": "stripe_webhook_bad_signature"})
        raise WebhookSignatureError from error
    event_id, event_type, obj = _event_parts(event)
    handler = _HANDLERS.get(event_type)
    try:
        with transaction.atomic():
            try:
                with transaction.atomic():
                    record = StripeEvent.objects.create(event_id=event_id, type=event_type, outcome="received")
            except IntegrityError:
                return "duplicate"
            outcome = handler(obj) if handler else "ignored"
            record.outcome = outcome
            record.save(update_fields=["outcome"])
    except Exception as error:
        # Any failure of ours (a KeyError on a field we assumed, a database error) is ours to fix, not
        # Stripe's: the rollback took the event record too, so Stripe's retry will be acted on.
        logger.error(
            "stripe_webhook_handler_error",
            extra={
                "event": "stripe_webhook_handler_error",
                "stripe_event": event_id,
                "stripe_type": event_type,
                "error_class": type(error).__name__,
            },
            exc_info=True,
        )
        raise WebhookHandlerError from error
    logger.info("stripe_webhook", extra={"event": "stripe_webhook", "stripe_type": event_type, "outcome": outcome})
    return outcome


def _event_parts(event) -> tuple[str, str, dict]:
    """The event's id, type and object (plain values), or WebhookShapeError when one is missing."""
    event = event.to_dict() if hasattr(event, "to_dict") else dict(event)
    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    if not isinstance(event.get("id"), str) or not isinstance(event.get("type"), str) or not isinstance(obj, dict):
        security_log.warning("stripe_webhook_malformed", extra={"event": "stripe_webhook_malformed"})
        raise WebhookShapeError
    return event["id"], event["type"], obj


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
        try:
            # Allowed only after a payment timeout, with every piece still there (orders.workflow guards it).
            order_transition(
                order=order, to_status=OrderStatus.PAID, actor=None, note=f"Card payment {obj['id']} arrived late"
            )
        except OrderTransitionError:
            refund_automatically(order=order, payment=payment, reason="paid after the order was cancelled")
            return "paid_late_refunded"
        return "paid_late_reinstated"
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
