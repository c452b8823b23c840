"""The books the state machine's invariants read: what Stripe says about an intent (over its API, never through
our code) and every order's rows (payments, refunds, refund history, e-mails) loaded in a handful of queries."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

import requests
from django.conf import settings
from django.db.models import Sum

from loopback.localstripe import SECRET_KEY
from mailqueue.models import Mail
from orders.models import EventReason, Order, OrderEvent, OrderStatus
from payments import gateway
from payments.models import Payment, Refund, RefundStatus


class StripeView:
    """What localstripe says about an intent, read over its API with the secret key (never through our code)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def intent(self, intent_id: str) -> dict:
        answer = requests.get(f"{self.url}/v1/payment_intents/{intent_id}", auth=(SECRET_KEY, ""), timeout=10)
        answer.raise_for_status()
        return answer.json()

    def money(self, intent_id: str) -> tuple[int, int, int]:
        """(captured, refunded, number of refunds), in minor units, for one intent."""
        intent = self.intent(intent_id)
        charge = intent.get("latest_charge")
        if isinstance(charge, str):
            charge = requests.get(f"{self.url}/v1/charges/{charge}", auth=(SECRET_KEY, ""), timeout=10).json()
        if intent["status"] != "succeeded" or not charge:
            return 0, 0, 0
        refunds = (charge.get("refunds") or {}).get("data") or []
        return int(intent["amount"]), int(charge.get("amount_refunded") or 0), len(refunds)


def minor(amount: Decimal) -> int:
    return gateway.to_minor(amount, settings.SHOP_CURRENCY)


def money_sum(queryset, field: str = "amount") -> int:
    """A queryset's money column added up, in minor units (0 for none)."""
    return minor(queryset.aggregate(s=Sum(field))["s"] or Decimal("0.00"))


@dataclass
class Books:
    """One order as our rows tell it (loaded in bulk for every order at once), plus what Stripe says (filled in)."""

    order: Order
    intents: set[str] = field(default_factory=set)
    succeeded: dict[str, int] = field(default_factory=dict)  # intent -> amount, once the webhook recorded success
    refunds: list[tuple[int, str, str]] = field(default_factory=list)  # (amount, status, source)
    refund_events_total: int = 0
    mails: list[str] = field(default_factory=list)
    recorded_by_staff: bool = False
    stripe_refunded: int = 0
    refunds_at_stripe: int = 0

    def refunded(self, status: str, source: str | None = None) -> int:
        return sum(a for a, st_, src in self.refunds if st_ == status and (source is None or src == source))

    @property
    def refund_unsettled(self) -> bool:
        return any(st_ in (RefundStatus.PENDING, RefundStatus.FAILED) for _, st_, _ in self.refunds)


def order_books(intent_order: dict[str, int]) -> list[Books]:
    """Every order's books in a handful of queries (the invariants run after every step)."""
    books = {order.pk: Books(order=order) for order in Order.objects.all()}
    for intent_id, order in intent_order.items():
        books[order].intents.add(intent_id)
    for intent_id, order, amount, succeeded_at in Payment.objects.values_list(
        "intent_id", "order_id", "amount", "succeeded_at"
    ):
        books[order].intents.add(intent_id)
        if succeeded_at is not None:
            books[order].succeeded[intent_id] = minor(amount)
    for order, amount, status, source in Refund.objects.values_list("payment__order_id", "amount", "status", "source"):
        books[order].refunds.append((minor(amount), status, source))
    for order, amount in OrderEvent.objects.filter(reason=EventReason.REFUND).values_list("order_id", "amount"):
        books[order].refund_events_total += minor(amount)
    for order in OrderEvent.objects.filter(to_status=OrderStatus.PAID, actor__isnull=False).values_list(
        "order_id", flat=True
    ):
        books[order].recorded_by_staff = True
    by_number = {b.order.number: b for b in books.values()}
    for reference, kind in Mail.objects.order_by("pk").values_list("reference", "kind"):
        if reference in by_number:
            by_number[reference].mails.append(kind)
    return list(books.values())
