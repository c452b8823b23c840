"""The last-piece drill's verdict, from what it observed at the end: the shop's orders, refund rows
and e-mails, Stripe's own intents and refunds (localstripe's API), and what the SMTP server received.

Plain values in, (ok, line) pairs out, so tests/bench/test_last_piece.py checks each rule on
made-up observations without any server.
"""

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

ZERO = Decimal("0.00")
# "We have refunded £1,150 for order ..." (whole amounts without pence: catalog.money.format_money).
REFUNDED_AMOUNT = re.compile(r"refunded\s+\D{0,8}?(\d[\d,]*(?:\.\d{2})?)")


@dataclass(frozen=True)
class OrderSeen:
    number: str
    status: str
    total: Decimal


@dataclass(frozen=True)
class StripeRefund:
    amount: Decimal
    status: str
    created: int  # Stripe's clock, whole seconds


@dataclass(frozen=True)
class StripeIntent:
    id: str
    order_number: str
    status: str
    amount: Decimal
    refunds: tuple[StripeRefund, ...] = ()
    created: int = 0  # Stripe's clock; localstripe's create-and-confirm succeeds at once

    @property
    def captured(self) -> Decimal:
        return self.amount if self.status == "succeeded" else ZERO

    @property
    def refunded(self) -> Decimal:
        return sum((r.amount for r in self.refunds if r.status == "succeeded"), ZERO)


@dataclass(frozen=True)
class MailSeen:
    message_id: str
    kind: str
    reference: str
    status: str
    created: float  # epoch seconds, when the shop queued it
    text: str


@dataclass
class Observations:
    orders: list[OrderSeen]
    intents: list[StripeIntent]
    refund_rows: list[tuple[str, str, Decimal]]  # (intent id, status, amount)
    mails: list[MailSeen]
    received_ids: list[str]  # Message-ID of every message the SMTP server accepted, in order
    stock: int
    notes: list[str] = field(default_factory=list)


def money_by_order(obs: Observations) -> dict[str, tuple[Decimal, Decimal]]:
    """Captured and refunded at Stripe per order number."""
    totals: dict[str, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
    for intent in obs.intents:
        totals[intent.order_number][0] += intent.captured
        totals[intent.order_number][1] += intent.refunded
    return {number: (c, r) for number, (c, r) in totals.items()}


def verdict_lines(obs: Observations) -> list[tuple[bool, str]]:
    lines: list[tuple[bool, str]] = []
    paid = [o for o in obs.orders if o.status == "paid"]
    lines.append((len(paid) == 1, f"paid orders: {[o.number for o in paid]} (exactly one expected)"))
    lines.append((obs.stock == 0, f"the piece's stock at the end: {obs.stock} (0 expected)"))

    money = money_by_order(obs)
    known = {o.number for o in obs.orders}
    strangers = sorted(set(money) - known)
    lines.append((not strangers, f"Stripe intents for orders the drill did not place: {strangers or 'none'}"))
    for order in obs.orders:
        captured, refunded = money.get(order.number, (ZERO, ZERO))
        kept = captured - refunded
        expected = order.total if order.status == "paid" else ZERO
        if captured == ZERO and order.status != "paid":
            continue  # never charged: nothing to account for
        lines.append(
            (
                kept == expected and refunded <= captured,
                f"{order.number} ({order.status}): Stripe captured {captured}, refunded {refunded}, "
                f"keeps {kept} (expected {expected})",
            )
        )
    charged_losers = [o.number for o in obs.orders if o.status != "paid" and money.get(o.number, (ZERO,))[0] > 0]
    lines.append((True, f"shoppers charged who did not get the piece: {len(charged_losers)} {charged_losers}"))

    rows = Counter(status for _, status, _ in obs.refund_rows)
    stuck = {status: n for status, n in rows.items() if status != "succeeded"}
    lines.append((not stuck, f"refund rows by status: {dict(rows)} (none pending or failed)"))

    unsent = [m for m in obs.mails if m.status != "sent"]
    lines.append((not unsent, f"e-mails not sent at the end: {len(unsent)} {[(m.kind, m.reference) for m in unsent]}"))
    dupes = sorted(mid for mid, n in Counter(obs.received_ids).items() if n > 1)
    lines.append((not dupes, f"messages received twice (same Message-ID): {dupes or 'none'}"))
    ours = {m.message_id for m in obs.mails}
    unknown = sorted(set(obs.received_ids) - ours)
    lines.append((not unknown, f"messages received that the shop never queued: {unknown or 'none'}"))
    lines.extend(_mails_true(obs, money))
    return lines


def _mails_true(obs: Observations, money: dict[str, tuple[Decimal, Decimal]]) -> list[tuple[bool, str]]:
    """Every received e-mail says what Stripe and the final state bear out."""
    received = set(obs.received_ids)
    status = {o.number: o.status for o in obs.orders}
    first_refund = {}
    for intent in obs.intents:
        for refund in intent.refunds:
            if refund.status == "succeeded":
                earliest = first_refund.get(intent.order_number, refund.created)
                first_refund[intent.order_number] = min(earliest, refund.created)
    told_refunded: dict[str, Decimal] = defaultdict(lambda: ZERO)
    false: list[str] = []
    sent = [m for m in obs.mails if m.message_id in received]
    for mail in sent:
        if mail.kind != "order_refunded":
            continue
        match = REFUNDED_AMOUNT.search(mail.text)
        told_refunded[mail.reference] += Decimal(match[1].replace(",", "")).quantize(ZERO) if match else ZERO
        # Stripe's clock counts whole seconds: a refund created in the same second as the e-mail passes.
        if mail.reference not in first_refund or int(mail.created) < first_refund[mail.reference]:
            false.append(f"{mail.reference}: 'we have refunded' queued before Stripe had refunded anything")
    for number, told in told_refunded.items():
        refunded = money.get(number, (ZERO, ZERO))[1]
        if told != refunded:
            false.append(f"{number}: told {told} was refunded, Stripe refunded {refunded}")
    for mail in sent:
        captured, refunded = money.get(mail.reference, (ZERO, ZERO))
        final = status.get(mail.reference, "?")
        if mail.kind == "order_paid":
            if captured == ZERO:
                false.append(f"{mail.reference}: 'payment received' but Stripe captured nothing")
            elif final != "paid" and not (refunded == captured and told_refunded.get(mail.reference) == refunded):
                false.append(f"{mail.reference}: 'payment received', ends {final}, not refunded and told so")
        elif mail.kind == "order_cancelled":
            paid_later = any(
                m.kind == "order_paid" and m.reference == mail.reference and m.created >= mail.created for m in sent
            )
            if final != "cancelled" and not paid_later:
                false.append(f"{mail.reference}: 'cancelled' but the order ends {final}, never told it was paid")
            taken = [i for i in obs.intents if i.order_number == mail.reference and i.captured]
            if "in time" in mail.text and any(i.created + 1 <= mail.created for i in taken):
                false.append(f"{mail.reference}: 'payment did not arrive in time' but Stripe had taken it before")
    kinds = Counter(m.kind for m in sent)
    return [(not false, f"e-mails received {dict(kinds)}; untrue: {false or 'none'}")]
