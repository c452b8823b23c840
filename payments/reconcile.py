"""Reconciliation: what Stripe holds for a time window, compared with our orders, payments and refunds.

Run daily by ``manage.py payments_reconcile`` (deploy/jewelry-payments-reconcile.timer). Only what is
safe and idempotent is repaired, and only through the paths the webhook itself takes: a payment whose
``payment_intent.succeeded`` never arrived is replayed through the same handler (the order becomes
paid, or the money goes back, by the usual rules), a refund made at Stripe that we lack is recorded as
the ``charge.refunded`` handler records it, and a refund row left pending that Stripe shows succeeded
is marked succeeded. Everything else is a finding for staff: logged as ``reconcile_divergence`` (ERROR
when it is left to a person, which the CloudWatch alarm watches) and printed by the command. A second
run repairs nothing the first one repaired. Runbook: deploy/runbooks/alarms.md, "Payments reconciliation".
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from orders.models import Order, OrderStatus, PaymentMethod

from . import gateway, services
from .models import Payment, Refund, RefundStatus
from .refunds import refund_record_made

logger = logging.getLogger("shop.payments")

# Kinds of divergence (the runbook has a paragraph for each).
MISSED_WEBHOOK = "missed_webhook"  # succeeded at Stripe; our Payment is missing or not marked succeeded
CAPTURED_UNKNOWN_ORDER = "captured_unknown_order"  # money taken for an order number we do not have
CAPTURED_AMOUNT_MISMATCH = "captured_amount_mismatch"  # money taken that is not the order's total
CAPTURED_CANCELLED_ORDER = "captured_cancelled_order"  # money kept for a cancelled order (not refunded in full)
CAPTURED_UNPAID_ORDER = "captured_unpaid_order"  # money kept for an order still awaiting payment
PAID_WITHOUT_CAPTURE = "paid_without_capture"  # a paid card order with no succeeded payment at Stripe
REFUND_MISSING_HERE = "refund_missing_here"  # Stripe refunded more than our rows say
REFUND_PENDING_SUCCEEDED = "refund_pending_succeeded"  # our row is pending; Stripe has it succeeded
REFUND_PENDING_MISSING = "refund_pending_missing"  # our row is pending; Stripe has no such refund
REFUND_TOTALS_DIFFER = "refund_totals_differ"  # after all the above, the totals still differ
LISTING_INCOMPLETE = "listing_incomplete"  # more objects in the window than one run looks at

# Statuses a card order has once its money is in (the card was charged).
PAID_STATUSES = (OrderStatus.PAID, OrderStatus.READY_FOR_COLLECTION, OrderStatus.SHIPPED, OrderStatus.DELIVERED)
# A refund Stripe still counts (money gone or going back); failed and canceled ones gave nothing back.
STRIPE_REFUNDED = ("succeeded", "pending", "requires_action")
# A refund row this young may be in flight (asked of Stripe, answer not stored yet): not judged yet.
PENDING_GRACE = timedelta(minutes=15)
# Objects one run looks at, per list: a shop's two days are a few hundred; beyond this it says so.
MAX_LISTED = 5000


@dataclass(frozen=True)
class Finding:
    kind: str
    order_number: str
    intent_id: str
    stripe_amount: Decimal | None  # what Stripe holds (paid, or refunded), in the shop's currency
    our_amount: Decimal | None  # what our rows say for the same thing
    repaired: bool
    detail: str = ""


@dataclass
class Report:
    since: datetime
    until: datetime
    intents_checked: int = 0
    orders_checked: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def unrepaired(self) -> list[Finding]:
        return [finding for finding in self.findings if not finding.repaired]


def payments_reconcile(*, since: datetime, until: datetime, repair: bool) -> Report:
    """Compare Stripe's payments and refunds created in [since, until) with ours; repair what is safe."""
    report = Report(since=since, until=until)
    # Stripe counts whole seconds: the second ``until`` falls in is part of the window.
    window = {"since": math.floor(since.timestamp()), "until": math.ceil(until.timestamp()), "limit": MAX_LISTED}
    intents = gateway.payment_intents_list(**window)
    refunds = gateway.refunds_list(**window)
    for listing, what in ((intents, "payments"), (refunds, "refunds")):
        if not listing.complete:
            report.findings.append(
                Finding(LISTING_INCOMPLETE, "", "", None, None, False, f"more than {MAX_LISTED} {what}")
            )
    by_id = {intent.id: intent for intent in intents.items}
    # A refund in the window for a payment made before it: that payment is checked too.
    for intent_id in sorted({r.intent_id for r in refunds.items if r.intent_id} - set(by_id)):
        intent = gateway.payment_intent_retrieve(intent_id=intent_id)
        if intent is not None:
            by_id[intent.id] = intent
    for intent in by_id.values():
        if intent.status == "succeeded":
            report.intents_checked += 1
            _intent_check(intent=intent, repair=repair, report=report)
    _paid_orders_check(since=since, until=until, known=by_id, report=report)
    for finding in report.findings:
        _log(finding)
    logger.info(
        "reconcile_finished",
        extra={
            "event": "reconcile_finished",
            "intents_checked": report.intents_checked,
            "orders_checked": report.orders_checked,
            "findings": len(report.findings),
            "unrepaired": len(report.unrepaired),
        },
    )
    return report


def _money(minor: int, currency: str) -> Decimal:
    return gateway.from_minor(minor, currency)


def _intent_check(*, intent: gateway.StripeIntent, repair: bool, report: Report) -> None:
    """One succeeded PaymentIntent: is its money where our rows say it is?"""
    paid = _money(intent.amount_minor, intent.currency)
    payment = Payment.objects.filter(intent_id=intent.id).select_related("order").first()
    number = payment.order.number if payment else intent.order_number
    order = Order.objects.filter(number=number).first() if number else None
    if order is None:
        report.findings.append(Finding(CAPTURED_UNKNOWN_ORDER, number, intent.id, paid, None, False))
        return
    if payment is None or payment.succeeded_at is None:
        if not _amount_is_the_total(intent=intent, order=order):
            # The webhook refuses such a payment too: a person decides (refund it at Stripe, most likely).
            ours = payment.amount if payment else order.total
            report.findings.append(Finding(CAPTURED_AMOUNT_MISMATCH, order.number, intent.id, paid, ours, False))
            return
        repaired = repair and _replay_succeeded(intent=intent)
        payment = Payment.objects.filter(intent_id=intent.id).select_related("order").first()
        ours = payment.amount if payment else None
        report.findings.append(Finding(MISSED_WEBHOOK, order.number, intent.id, paid, ours, repaired))
        if not repaired:
            return
    stripe_refunds = gateway.intent_refunds_list(intent_id=intent.id)
    _refunds_check(intent=intent, payment=payment, stripe_refunds=stripe_refunds, repair=repair, report=report)
    order.refresh_from_db(fields=["status"])
    refunded = _money(sum(r.amount_minor for r in stripe_refunds if r.status in STRIPE_REFUNDED), intent.currency)
    if order.status == OrderStatus.CANCELLED and refunded < paid:
        # Stripe keeps paid - refunded; our books, with the order cancelled, say nothing should be kept.
        kept = paid - refunded
        detail = f"refunded {refunded} of {paid}"
        report.findings.append(
            Finding(CAPTURED_CANCELLED_ORDER, order.number, intent.id, kept, Decimal("0.00"), False, detail)
        )
    elif order.status == OrderStatus.AWAITING_PAYMENT and refunded < paid:
        # Stripe took the money (and our payment row may say so) but the order still waits for it: nothing
        # ships it, and the webhook that would have moved it has come and gone. Which side is wrong (the
        # status, or a payment that should go back) is for a person; repairing either could be the mistake.
        kept = paid - refunded
        detail = f"order awaiting payment; refunded {refunded} of {paid}"
        report.findings.append(
            Finding(CAPTURED_UNPAID_ORDER, order.number, intent.id, kept, Decimal("0.00"), False, detail)
        )


def _amount_is_the_total(*, intent: gateway.StripeIntent, order: Order) -> bool:
    currency = settings.SHOP_CURRENCY.upper()
    return intent.currency == currency and intent.amount_minor == gateway.to_minor(order.total, currency)


def _replay_succeeded(*, intent: gateway.StripeIntent) -> bool:
    """The missed ``payment_intent.succeeded`` through the webhook's own handler, in one transaction."""
    obj = {
        "id": intent.id,
        "object": "payment_intent",
        "amount": intent.amount_minor,
        "currency": intent.currency.lower(),
        "status": intent.status,
        "metadata": {"order_number": intent.order_number} if intent.order_number else {},
    }
    try:
        with transaction.atomic():
            outcome = services._on_intent_succeeded(obj)
    except Exception:
        # Rolled back whole; this payment stays a finding for a person, the other payments go on.
        logger.exception("reconcile_replay_failed", extra={"event": "reconcile_replay_failed", "intent": intent.id})
        return False
    logger.info("reconcile_replayed", extra={"event": "reconcile_replayed", "intent": intent.id, "outcome": outcome})
    return Payment.objects.filter(intent_id=intent.id, succeeded_at__isnull=False).exists()


def _refunds_check(
    *, intent: gateway.StripeIntent, payment: Payment, stripe_refunds: list, repair: bool, report: Report
) -> None:
    """Our refund rows for one payment against Stripe's refunds of it."""
    number = payment.order.number
    stripe_done = {r.id: r for r in stripe_refunds if r.status == "succeeded"}
    claimed = set(payment.refunds.exclude(stripe_refund_id=None).values_list("stripe_refund_id", flat=True))
    in_flight_since = timezone.now() - PENDING_GRACE
    for row in payment.refunds.filter(status=RefundStatus.PENDING, created_at__lt=in_flight_since).order_by("pk"):
        match = stripe_done.get(row.stripe_refund_id or "")
        if match is None and not row.stripe_refund_id:
            # Stripe answered but the answer was never stored: the refund of that amount nobody claims.
            want = gateway.to_minor(row.amount, payment.currency)
            match = next((r for r in stripe_done.values() if r.id not in claimed and r.amount_minor == want), None)
        if match is None:
            report.findings.append(Finding(REFUND_PENDING_MISSING, number, intent.id, None, row.amount, False))
            continue
        claimed.add(match.id)
        repaired = repair and _refund_mark_succeeded(refund=row, stripe_refund_id=match.id)
        stripe_amount = _money(match.amount_minor, match.currency)
        report.findings.append(
            Finding(REFUND_PENDING_SUCCEEDED, number, intent.id, stripe_amount, row.amount, repaired)
        )
    stripe_minor = sum(r.amount_minor for r in stripe_refunds if r.status in STRIPE_REFUNDED)
    recorded = _refunded_here(payment=payment, statuses=(RefundStatus.SUCCEEDED, RefundStatus.PENDING))
    stripe_total = _money(stripe_minor, intent.currency)
    if stripe_total > recorded:
        repaired = False
        if repair:
            # As the charge.refunded webhook would have: the difference becomes one row and a history event.
            charge = {
                "id": intent.charge_id,
                "object": "charge",
                "payment_intent": intent.id,
                "amount_refunded": stripe_minor,
                "currency": intent.currency.lower(),
            }
            with transaction.atomic():
                services._on_charge_refunded(charge)
            repaired = _refunded_here(payment=payment, statuses=(RefundStatus.SUCCEEDED, RefundStatus.PENDING)) >= (
                stripe_total
            )
        report.findings.append(Finding(REFUND_MISSING_HERE, number, intent.id, stripe_total, recorded, repaired))
    ours = _refunded_here(payment=payment, statuses=(RefundStatus.SUCCEEDED,))
    if ours != stripe_total and not _pending_explains(payment=payment, stripe_total=stripe_total, ours=ours):
        report.findings.append(Finding(REFUND_TOTALS_DIFFER, number, intent.id, stripe_total, ours, False))


def _refunded_here(*, payment: Payment, statuses) -> Decimal:
    amounts = Refund.objects.filter(payment=payment, status__in=statuses).values_list("amount", flat=True)
    return sum(amounts, Decimal("0.00"))


def _pending_explains(*, payment: Payment, stripe_total: Decimal, ours: Decimal) -> bool:
    """Stripe's total is ours plus refunds still pending here (in flight, or already reported as pending)."""
    pending = _refunded_here(payment=payment, statuses=(RefundStatus.PENDING,))
    return pending > 0 and ours <= stripe_total <= ours + pending


def _refund_mark_succeeded(*, refund: Refund, stripe_refund_id: str) -> bool:
    """A pending row Stripe shows succeeded: recorded as refund_send would (history, e-mail), once."""
    return refund_record_made(refund_id=refund.pk, stripe_refund_id=stripe_refund_id)


def _paid_orders_check(*, since: datetime, until: datetime, known: dict, report: Report) -> None:
    """Card orders placed in the window and marked paid (or further): Stripe must hold a succeeded payment."""
    orders = Order.objects.filter(
        payment_method=PaymentMethod.CARD, status__in=PAID_STATUSES, created_at__gte=since, created_at__lt=until
    ).prefetch_related("payments")
    for order in orders:
        report.orders_checked += 1
        rows = list(order.payments.all())
        statuses = []
        for row in rows:
            intent = known.get(row.intent_id) or gateway.payment_intent_retrieve(intent_id=row.intent_id)
            statuses.append(intent.status if intent else "unknown at Stripe")
        if "succeeded" not in statuses:
            ours = next((row.amount for row in rows if row.status == "succeeded"), None)
            detail = ", ".join(f"{row.intent_id}: {status}" for row, status in zip(rows, statuses, strict=True))
            report.findings.append(
                Finding(
                    PAID_WITHOUT_CAPTURE,
                    order.number,
                    rows[0].intent_id if rows else "",
                    None,
                    ours,
                    False,
                    detail or "no card payment recorded",
                )
            )


def _log(finding: Finding) -> None:
    # Order numbers, intent ids and amounts only: never card data or e-mail addresses.
    logger.log(
        logging.WARNING if finding.repaired else logging.ERROR,
        "reconcile_divergence",
        extra={
            "event": "reconcile_divergence",
            "kind": finding.kind,
            "order_number": finding.order_number,
            "intent": finding.intent_id,
            "stripe_amount": None if finding.stripe_amount is None else str(finding.stripe_amount),
            "our_amount": None if finding.our_amount is None else str(finding.our_amount),
            "repaired": finding.repaired,
            "detail": finding.detail,
        },
    )


def reconcile_window(*, since: datetime | None = None, until: datetime | None = None, hours: int | None = None):
    """The window to check: [since, until), by default the last SHOP_RECONCILE_HOURS up to now."""
    until = until or timezone.now()
    since = since or until - timedelta(hours=hours or settings.SHOP_RECONCILE_HOURS)
    return since, until
