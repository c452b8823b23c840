"""Reconciliation against a real localstripe: divergences made on purpose (a webhook never delivered, an order
cancelled or set back to awaiting payment behind Stripe's back, money for an order we do not have, a paid
order Stripe never charged, refunds made at Stripe or left pending), what is repaired, what is reported,
and that a second run repairs nothing.

Each test has its own localstripe (``own_stripe``): the window is "the last 48 hours", and the session's
shared server holds every other test's payments, whose orders were rolled back with their tests.
What localstripe does not cover: Stripe's ``created`` filters (payments.gateway windows lists itself) and
refunds that stay ``pending`` at Stripe (localstripe's succeed at once).
"""

import json
import logging
import os
import shlex
import subprocess
import time
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
import requests
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from loopback.localstripe import PUBLISHABLE_KEY, SECRET_KEY, WEBHOOK_SECRET, localstripe_running
from mailqueue.models import Mail
from orders.models import EventReason, Order, OrderStatus
from payments import gateway
from payments.models import Payment, Refund, RefundSource, RefundStatus
from payments.reconcile import (
    CAPTURED_AMOUNT_MISMATCH,
    CAPTURED_CANCELLED_ORDER,
    CAPTURED_UNKNOWN_ORDER,
    CAPTURED_UNPAID_ORDER,
    MISSED_WEBHOOK,
    PAID_WITHOUT_CAPTURE,
    REFUND_MISSING_HERE,
    REFUND_PENDING_MISSING,
    REFUND_PENDING_SUCCEEDED,
    REFUND_TOTALS_DIFFER,
    Finding,
    payments_reconcile,
    reconcile_window,
)
from payments.services import payment_charge, payment_setup_start
from tests.deploy.test_maintenance import APP_PYTHON, HARDENING, unit, units_verify
from tests.e2e.conftest import PYTHON, REPO
from tests.payments.helpers import NEEDS_3DS, authenticate_payment, card_order, card_setup, intent_event, post_event
from tests.threads import run_together

DEPLOY = REPO / "deploy"
SERVICE = DEPLOY / "jewelry-payments-reconcile.service"
TIMER = DEPLOY / "jewelry-payments-reconcile.timer"


@pytest.fixture
def own_stripe(settings):
    """A fresh localstripe for this test only, and the stripe library pointed at it (as ``stripe_settings``)."""
    with localstripe_running() as server:
        settings.STRIPE_ENABLED = True
        settings.STRIPE_SECRET_KEY = SECRET_KEY
        settings.STRIPE_PUBLISHABLE_KEY = PUBLISHABLE_KEY
        settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
        settings.STRIPE_API_BASE = server.url
        settings.STRIPE_JS_URL = server.js_url
        settings.STRIPE_MAX_NETWORK_RETRIES = 0
        yield server


def pay(localstripe, order, *, number: str = "4242424242424242") -> Payment:
    """The browser's card steps and our charge view: Stripe takes the money, no webhook is delivered."""
    pm = card_setup(localstripe, setup_secret=payment_setup_start(order=order), number=number)
    payment_charge(order=order, payment_method_id=pm)
    return Payment.objects.get(order=order)


def webhook(localstripe, intent_id: str) -> str:
    """Deliver the event localstripe recorded for this intent, signed; returns our handler's outcome."""
    (event,) = [
        e for e in localstripe.events(type="payment_intent.succeeded") if e["data"]["object"]["id"] == intent_id
    ]
    return post_event(event).json()["outcome"]


def reconcile(*, repair: bool = True):
    since, until = reconcile_window()
    return payments_reconcile(since=since, until=until, repair=repair)


def paid_order(localstripe, **kwargs):
    order, _variant = card_order(**kwargs)
    payment = pay(localstripe, order)
    assert webhook(localstripe, payment.intent_id) == "paid"
    order.refresh_from_db()
    payment.refresh_from_db()
    return order, payment


def age(refund: Refund) -> None:
    Refund.objects.filter(pk=refund.pk).update(created_at=timezone.now() - timedelta(hours=1))


# --- Repaired -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_payment_whose_webhook_never_came_is_replayed_once(own_stripe, django_capture_on_commit_callbacks):
    order, _ = card_order(price=Decimal("120.00"))
    payment = pay(own_stripe, order)
    assert (payment.status, payment.succeeded_at) == ("succeeded", None)  # Stripe took it; we were never told

    with django_capture_on_commit_callbacks(execute=True):
        report = reconcile()
    total = Decimal("125.00")
    assert report.findings == [Finding(MISSED_WEBHOOK, order.number, payment.intent_id, total, total, True)]
    assert report.unrepaired == []
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert Payment.objects.filter(order=order).count() == 1
    assert Payment.objects.get(order=order).succeeded_at is not None
    assert Mail.objects.filter(kind="order_paid", reference=order.number).count() == 1

    with django_capture_on_commit_callbacks(execute=True):
        again = reconcile()
    assert again.findings == []
    # The webhook arriving at last finds it done: still one transition, one e-mail.
    assert webhook(own_stripe, payment.intent_id) == "already_recorded"
    assert order.events.filter(to_status=OrderStatus.PAID).count() == 1
    assert Mail.objects.filter(kind="order_paid", reference=order.number).count() == 1


@pytest.mark.django_db
def test_no_repair_only_reports_the_missed_webhook(own_stripe):
    order, _ = card_order()
    payment = pay(own_stripe, order)
    report = reconcile(repair=False)
    assert [(f.kind, f.order_number, f.repaired) for f in report.findings] == [(MISSED_WEBHOOK, order.number, False)]
    order.refresh_from_db()
    assert order.status == OrderStatus.AWAITING_PAYMENT
    assert Payment.objects.get(pk=payment.pk).succeeded_at is None


@pytest.mark.django_db
def test_a_refund_made_at_stripe_without_its_webhook_is_recorded_once(own_stripe, django_capture_on_commit_callbacks):
    order, payment = paid_order(own_stripe, price=Decimal("120.00"))
    # Staff refund £30 in Stripe's dashboard; the charge.refunded webhook never arrives.
    gateway.refund_create(intent_id=payment.intent_id, amount_minor=3000, idempotency_key=uuid.uuid4().hex)

    with django_capture_on_commit_callbacks(execute=True):
        report = reconcile()
    assert report.findings == [
        Finding(REFUND_MISSING_HERE, order.number, payment.intent_id, Decimal("30.00"), Decimal("0.00"), True)
    ]
    refund = Refund.objects.get(payment=payment)
    assert (refund.amount, refund.status, refund.source) == (Decimal("30.00"), RefundStatus.SUCCEEDED, "stripe")
    assert order.events.filter(reason=EventReason.REFUND, amount=Decimal("30.00")).count() == 1
    assert Mail.objects.filter(kind="order_refunded", reference=order.number).count() == 1

    with django_capture_on_commit_callbacks(execute=True):
        assert reconcile().findings == []
    assert Refund.objects.filter(payment=payment).count() == 1
    # The webhook arriving late changes nothing either.
    charge = {"id": "ch_late", "object": "charge", "payment_intent": payment.intent_id, "amount_refunded": 3000}
    late = post_event(intent_event({**charge, "currency": "gbp"}, type="charge.refunded"))
    assert late.json()["outcome"] == "refund_already_recorded"
    assert Refund.objects.filter(payment=payment).count() == 1


@pytest.mark.django_db
def test_a_pending_refund_stripe_shows_succeeded_is_marked_succeeded(own_stripe):
    _order, payment = paid_order(own_stripe)
    # The process died between Stripe's answer and our write: the row stayed pending, with no Stripe id.
    row = Refund.objects.create(
        payment=payment, amount=Decimal("40.00"), source=RefundSource.STAFF, idempotency_key=uuid.uuid4().hex
    )
    age(row)
    gateway.refund_create(intent_id=payment.intent_id, amount_minor=4000, idempotency_key=f"refund-{row.pk}")

    report = reconcile()
    assert [(f.kind, f.stripe_amount, f.our_amount, f.repaired) for f in report.findings] == [
        (REFUND_PENDING_SUCCEEDED, Decimal("40.00"), Decimal("40.00"), True)
    ]
    row.refresh_from_db()
    assert row.status == RefundStatus.SUCCEEDED
    assert row.stripe_refund_id.startswith("re_")
    assert Refund.objects.filter(payment=payment).count() == 1  # marked, not recorded a second time
    assert reconcile().findings == []


@pytest.mark.django_db
def test_a_pending_refund_reconciliation_finds_made_is_in_the_history_and_the_shopper_told(
    own_stripe, django_capture_on_commit_callbacks
):
    order, payment = paid_order(own_stripe)
    row = Refund.objects.create(
        payment=payment, amount=Decimal("40.00"), source=RefundSource.STAFF, idempotency_key=uuid.uuid4().hex
    )
    age(row)
    gateway.refund_create(intent_id=payment.intent_id, amount_minor=4000, idempotency_key=f"refund-{row.pk}")
    with django_capture_on_commit_callbacks(execute=True):
        reconcile()
    assert order.events.filter(amount=Decimal("40.00"), note="Refunded £40.00 by card").count() == 1
    assert Mail.objects.filter(kind="order_refunded", reference=order.number).count() == 1
    with django_capture_on_commit_callbacks(execute=True):
        reconcile()  # a second run tells nobody again
    assert Mail.objects.filter(kind="order_refunded", reference=order.number).count() == 1


@pytest.mark.django_db
def test_a_young_pending_refund_is_in_flight_and_not_judged(own_stripe):
    _order, payment = paid_order(own_stripe)
    Refund.objects.create(
        payment=payment, amount=Decimal("40.00"), source=RefundSource.STAFF, idempotency_key=uuid.uuid4().hex
    )
    gateway.refund_create(intent_id=payment.intent_id, amount_minor=4000, idempotency_key=uuid.uuid4().hex)
    assert reconcile().findings == []
    assert Refund.objects.get(payment=payment).status == RefundStatus.PENDING


@pytest.mark.django_db(transaction=True)  # as in production: the automatic refund goes to Stripe on commit
def test_a_missed_payment_for_an_order_cancelled_meanwhile_follows_the_late_payment_rules(own_stripe):
    order, _variant = card_order(stock=1)
    payment = pay(own_stripe, order)
    # The order was cancelled while the webhook was lost, and its piece is gone.
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.CANCELLED)
    report = reconcile()
    assert [(f.kind, f.repaired) for f in report.findings] == [(MISSED_WEBHOOK, True)]
    order.refresh_from_db()
    refunds = Refund.objects.filter(payment=payment)
    if order.status == OrderStatus.CANCELLED:  # the money goes back, at Stripe, in full
        assert [(r.amount, r.status) for r in refunds] == [(payment.amount, RefundStatus.SUCCEEDED)]
        at_stripe = gateway.intent_refunds_list(intent_id=payment.intent_id)
        assert sum(r.amount_minor for r in at_stripe) == gateway.to_minor(payment.amount, "GBP")
    else:  # or the order is paid after all, by whatever rule the late-payment path has
        assert order.status == OrderStatus.PAID
        assert not refunds.exists()
    assert reconcile().findings == []


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_repair_once(own_stripe):
    """Each instance runs the timer: two runs on the same missed payment and refund make one of each."""
    order, _ = card_order(price=Decimal("120.00"))
    payment = pay(own_stripe, order)
    other, paid = paid_order(own_stripe, email="bea@example.com")
    gateway.refund_create(intent_id=paid.intent_id, amount_minor=2500, idempotency_key=uuid.uuid4().hex)

    def run():
        try:
            return reconcile()
        finally:
            connection.close()

    reports = run_together([run, run], join_timeout=120)
    kinds = sorted((f.kind, f.repaired) for r in reports for f in r.findings)
    # Either both saw the divergences (one repaired each) or the second found them repaired already.
    assert all(not isinstance(r, BaseException) for r in reports), reports
    assert (MISSED_WEBHOOK, True) in kinds
    assert (REFUND_MISSING_HERE, True) in kinds
    assert Order.objects.get(pk=order.pk).status == OrderStatus.PAID
    assert Order.objects.get(pk=order.pk).events.filter(to_status=OrderStatus.PAID).count() == 1
    assert Mail.objects.filter(kind="order_paid", reference=order.number).count() == 1
    assert Payment.objects.get(pk=payment.pk).succeeded_at is not None
    assert list(Refund.objects.filter(payment=paid).values_list("amount", flat=True)) == [Decimal("25.00")]
    assert Mail.objects.filter(kind="order_refunded", reference=other.number).count() == 1
    assert reconcile().findings == []


# --- Reported, for a person -----------------------------------------------------------------------


@pytest.mark.django_db
def test_money_kept_for_an_order_cancelled_in_our_books_is_reported(own_stripe, caplog):
    order, payment = paid_order(own_stripe, price=Decimal("300.00"))  # free delivery from £250
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.CANCELLED)  # behind every service's back

    with caplog.at_level(logging.ERROR, logger="shop.payments"):
        report = reconcile()
    expected = Finding(
        CAPTURED_CANCELLED_ORDER,
        order.number,
        payment.intent_id,
        Decimal("300.00"),  # kept at Stripe
        Decimal("0.00"),  # what a cancelled order keeps
        False,
        "refunded 0.00 of 300.00",
    )
    assert report.findings == [expected]
    assert report.unrepaired == [expected]
    (record,) = [r for r in caplog.records if getattr(r, "event", "") == "reconcile_divergence"]
    assert record.levelno == logging.ERROR
    assert (record.kind, record.order_number, record.intent, record.repaired) == (
        CAPTURED_CANCELLED_ORDER,
        order.number,
        payment.intent_id,
        False,
    )
    assert order.email not in caplog.text  # order numbers and ids only, never the shopper's address
    assert not Refund.objects.exists()  # reported, never refunded on its own
    assert reconcile().findings == [expected]  # still there tomorrow, nothing new


@pytest.mark.django_db
def test_money_taken_for_an_order_still_awaiting_payment_is_reported_not_repaired(own_stripe, caplog):
    order, payment = paid_order(own_stripe, price=Decimal("300.00"))
    assert payment.succeeded_at is not None  # the webhook came: our payment row says the money is in
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.AWAITING_PAYMENT)  # behind every service's back

    with caplog.at_level(logging.ERROR, logger="shop.payments"):
        report = reconcile()
    expected = Finding(
        CAPTURED_UNPAID_ORDER,
        order.number,
        payment.intent_id,
        Decimal("300.00"),  # kept at Stripe
        Decimal("0.00"),  # what an order awaiting payment has received
        False,
        "order awaiting payment; refunded 0.00 of 300.00",
    )
    assert report.findings == [expected]
    (record,) = [r for r in caplog.records if getattr(r, "event", "") == "reconcile_divergence"]
    assert (record.levelno, record.kind, record.order_number) == (logging.ERROR, CAPTURED_UNPAID_ORDER, order.number)
    order.refresh_from_db()
    assert order.status == OrderStatus.AWAITING_PAYMENT  # reported: which side is wrong is for a person
    assert not Refund.objects.exists()
    assert reconcile().findings == [expected]  # still there tomorrow, nothing new

    # Refunded in full at Stripe (and recorded here by the repair): nothing is kept, nothing to say.
    _refund_id, status = gateway.refund_create(intent_id=payment.intent_id, amount_minor=30000, idempotency_key="all")
    assert status == "succeeded"
    assert CAPTURED_UNPAID_ORDER not in {finding.kind for finding in reconcile().findings}


@pytest.mark.django_db
def test_money_for_an_order_we_do_not_have_is_reported(own_stripe):
    _, secret = gateway.setup_intent_create(order_number="MA-00000000")
    pm = card_setup(own_stripe, setup_secret=secret)
    intent = gateway.payment_intent_create(
        order_number="MA-00000000", amount_minor=9900, currency="GBP", payment_method=pm, idempotency_key="x"
    )
    assert intent.status == "succeeded"
    report = reconcile()
    assert report.findings == [Finding(CAPTURED_UNKNOWN_ORDER, "MA-00000000", intent.id, Decimal("99.00"), None, False)]
    assert not Order.objects.exists()
    assert not Payment.objects.exists()


@pytest.mark.django_db
def test_a_missed_payment_that_is_not_the_orders_total_is_reported_not_replayed(own_stripe):
    order, _ = card_order(price=Decimal("120.00"))
    pm = card_setup(own_stripe, setup_secret=payment_setup_start(order=order))
    intent = gateway.payment_intent_create(
        order_number=order.number, amount_minor=100, currency="GBP", payment_method=pm, idempotency_key="y"
    )
    report = reconcile()
    assert report.findings == [
        Finding(CAPTURED_AMOUNT_MISMATCH, order.number, intent.id, Decimal("1.00"), Decimal("125.00"), False)
    ]
    order.refresh_from_db()
    assert order.status == OrderStatus.AWAITING_PAYMENT


@pytest.mark.django_db
@pytest.mark.parametrize("stripe_status", ["canceled", "requires_payment_method"])
def test_a_paid_order_stripe_never_charged_is_reported(own_stripe, stripe_status):
    order, _ = card_order()
    pm = card_setup(own_stripe, setup_secret=payment_setup_start(order=order), number=NEEDS_3DS)
    result = payment_charge(order=order, payment_method_id=pm)
    payment = Payment.objects.get(order=order)
    if stripe_status == "canceled":
        assert gateway.payment_intent_cancel(intent_id=payment.intent_id) == "canceled"
    else:  # the shopper failed 3-D Secure
        assert authenticate_payment(own_stripe, client_secret=result.client_secret, success=False)["status"] == (
            "requires_payment_method"
        )
    # Our rows say it succeeded and the order is paid: a forged or mistaken write.
    Payment.objects.filter(pk=payment.pk).update(status="succeeded", succeeded_at=timezone.now())
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.PAID)

    report = reconcile()
    assert report.findings == [
        Finding(
            PAID_WITHOUT_CAPTURE,
            order.number,
            payment.intent_id,
            None,
            payment.amount,
            False,
            f"{payment.intent_id}: {stripe_status}",
        )
    ]


@pytest.mark.django_db
def test_a_paid_card_order_with_no_card_payment_at_all_is_reported(own_stripe):
    order, _ = card_order()
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.SHIPPED)  # e.g. "Record payment" on a card order
    report = reconcile()
    assert [(f.kind, f.order_number, f.detail) for f in report.findings] == [
        (PAID_WITHOUT_CAPTURE, order.number, "no card payment recorded")
    ]


@pytest.mark.django_db
def test_pending_refunds_stripe_does_not_have_and_totals_that_differ_are_reported(own_stripe):
    _order, payment = paid_order(own_stripe)
    pending = Refund.objects.create(
        payment=payment, amount=Decimal("20.00"), source=RefundSource.STAFF, idempotency_key=uuid.uuid4().hex
    )
    age(pending)
    # A refund our rows say went through, which Stripe never made.
    Refund.objects.create(
        payment=payment,
        amount=Decimal("15.00"),
        source=RefundSource.STAFF,
        status=RefundStatus.SUCCEEDED,
        idempotency_key=uuid.uuid4().hex,
        stripe_refund_id="re_nowhere",
    )
    report = reconcile()
    assert [(f.kind, f.stripe_amount, f.our_amount, f.repaired) for f in report.findings] == [
        (REFUND_PENDING_MISSING, None, Decimal("20.00"), False),
        (REFUND_TOTALS_DIFFER, Decimal("0.00"), Decimal("15.00"), False),
    ]
    assert Refund.objects.get(pk=pending.pk).status == RefundStatus.PENDING  # the refund timer's to resend


@pytest.mark.django_db
def test_a_clean_window_has_nothing_to_say(own_stripe):
    paid_order(own_stripe)
    report = reconcile()
    assert (report.findings, report.intents_checked, report.orders_checked) == ([], 1, 1)


def backdate(localstripe, intent_id: str, *, days: int) -> None:
    """Move an intent's creation back in localstripe (its update takes any attribute): no waiting for time."""
    created = int(time.time()) - days * 86400
    answer = requests.post(
        f"{localstripe.url}/v1/payment_intents/{intent_id}",
        data=json.dumps({"created": created}),  # JSON keeps it a number (a form field would be a string)
        auth=(SECRET_KEY, ""),
        timeout=10,
    )
    answer.raise_for_status()


@pytest.mark.django_db
def test_queries_per_payment_are_a_few_and_constant(own_stripe):
    from django.test.utils import CaptureQueriesContext

    paid_order(own_stripe)
    with CaptureQueriesContext(connection) as one:
        assert reconcile().findings == []
    for n in range(3):
        paid_order(own_stripe, email=f"shopper{n}@example.com")
    with CaptureQueriesContext(connection) as four:
        assert reconcile().findings == []
    per_payment = (len(four) - len(one)) / 3
    print(f"reconcile queries: 1 payment {len(one)}, 4 payments {len(four)}, {per_payment:.1f} per payment")
    assert per_payment <= 8


def test_listing_a_window_stops_at_the_first_older_object_and_says_when_it_was_cut(own_stripe):
    made = []
    for _ in range(4):
        _, secret = gateway.setup_intent_create(order_number="MA-1")
        pm = card_setup(own_stripe, setup_secret=secret)
        made.append(
            gateway.payment_intent_create(
                order_number="MA-1",
                amount_minor=500,
                currency="GBP",
                payment_method=pm,
                idempotency_key=uuid.uuid4().hex,
            ).id
        )
    backdate(own_stripe, made[0], days=3)  # the oldest, listed last by Stripe (and first by plain localstripe)
    now = int(time.time())
    window = {"since": now - 2 * 86400, "until": now + 60}
    full = gateway.payment_intents_list(**window, limit=100)
    assert ({i.id for i in full.items}, full.complete) == (set(made[1:]), True)
    cut = gateway.payment_intents_list(**window, limit=2)
    assert (len(cut.items), cut.complete) == (2, False)
    assert gateway.payment_intents_list(since=now + 60, until=now + 120, limit=100).items == []


@pytest.mark.django_db
def test_a_refund_in_the_window_for_an_older_payment_is_checked(own_stripe, django_capture_on_commit_callbacks):
    order, payment = paid_order(own_stripe)
    backdate(own_stripe, payment.intent_id, days=3)  # paid before the window; refunded in it
    gateway.refund_create(intent_id=payment.intent_id, amount_minor=1000, idempotency_key=uuid.uuid4().hex)
    with django_capture_on_commit_callbacks(execute=True):
        report = reconcile()
    assert [(f.kind, f.order_number, f.repaired) for f in report.findings] == [
        (REFUND_MISSING_HERE, order.number, True)
    ]
    assert Refund.objects.get(payment=payment).amount == Decimal("10.00")


# --- The command ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_command_exit_status_and_summary(own_stripe, django_capture_on_commit_callbacks):
    order, _ = card_order()
    pay(own_stripe, order)
    out, err = [], []
    with django_capture_on_commit_callbacks(execute=True):
        call_command("payments_reconcile", stdout=_Sink(out), stderr=_Sink(err))
    summary = "".join(err)
    assert "1 divergence(s), 0 left for staff." in summary
    assert f"repaired: {MISSED_WEBHOOK} | {order.number}" in summary
    assert "".join(out) == ""  # stdout is for the JSON log only

    Order.objects.filter(pk=order.pk).update(status=OrderStatus.CANCELLED)
    err.clear()
    with pytest.raises(CommandError) as failed:
        call_command("payments_reconcile", "--hours", "1", stderr=_Sink(err))
    assert failed.value.returncode == 1
    assert f"TO CHECK: {CAPTURED_CANCELLED_ORDER} | {order.number}" in "".join(err)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "argv",
    [
        ["--since", "yesterday"],
        ["--hours", "0"],
        ["--hours", "many"],
        ["--since", "2026-12-02T00:00", "--until", "2026-12-01T00:00"],
        ["--since", "2026-12-01T00:00", "--hours", "3"],
    ],
)
def test_command_refuses_bad_arguments_clearly(own_stripe, argv):
    with pytest.raises(CommandError) as refused:
        call_command("payments_reconcile", *argv)
    assert refused.value.returncode in (1, 2)
    assert "Traceback" not in str(refused.value)


@pytest.mark.django_db
def test_command_says_it_could_not_run_when_stripe_is_unreachable(own_stripe, settings, caplog):
    from loopback import free_port

    settings.STRIPE_API_BASE = f"http://127.0.0.1:{free_port()}"
    with caplog.at_level(logging.ERROR, logger="shop.payments"), pytest.raises(CommandError) as failed:
        call_command("payments_reconcile")
    assert failed.value.returncode == 2
    assert "reconcile_failed" in caplog.text


@pytest.mark.django_db
def test_command_with_card_payments_off_does_nothing(settings):
    settings.STRIPE_ENABLED = False
    err = []
    call_command("payments_reconcile", stderr=_Sink(err))
    assert "Card payments are off" in "".join(err)


class _Sink:
    def __init__(self, parts: list):
        self.parts = parts

    def write(self, text: str) -> None:
        self.parts.append(text)

    def flush(self) -> None:
        pass


# --- The timer and its service ------------------------------------------------------------------


def test_service_runs_the_command_as_the_shop_runs():
    shop = unit(DEPLOY / "jewelry.service")["Service"]
    job = unit(SERVICE)["Service"]
    assert job["Type"] == ["oneshot"]
    for key in ("User", "Group", "WorkingDirectory", "EnvironmentFile", *HARDENING):
        assert job.get(key) == shop[key], key
    assert job["ExecStart"] == [f"{APP_PYTHON} manage.py payments_reconcile"]
    # The JSON events reach app.log (CloudWatch, the alarm); the summary stays in the journal.
    assert job["StandardOutput"] == shop["StandardOutput"] == ["append:/var/log/jewelry/app.log"]
    assert job["StandardError"] == ["journal"]
    assert "Restart" not in job
    assert "Install" not in unit(SERVICE)
    timer = unit(TIMER)
    assert timer["Timer"]["Unit"] == [SERVICE.name]
    assert timer["Timer"]["OnCalendar"] == ["*-*-* 05:15:00"]
    assert timer["Timer"]["Persistent"] == ["true"]
    assert timer["Install"]["WantedBy"] == ["timers.target"]


def test_units_pass_systemd_analyze(tmp_path):
    normalized = units_verify(tmp_path, service=SERVICE, timer=TIMER)
    assert "Normalized form: *-*-* 05:15:00" in normalized, normalized


@pytest.mark.django_db(transaction=True)  # the subprocess must see committed rows
def test_the_units_command_repairs_then_reports_with_its_exit_status(own_stripe):
    order, _ = card_order()
    pay(own_stripe, order)
    (command,) = unit(SERVICE)["Service"]["ExecStart"]
    argv = shlex.split(command)
    assert argv[0] == APP_PYTHON
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update(
        DJANGO_SETTINGS_MODULE="jewelry_site.settings.test",
        DJANGO_DATABASE_URL=_database_url(),
        **own_stripe.env(),
    )

    def run():
        return subprocess.run([PYTHON, *argv[1:]], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)

    first = run()
    assert first.returncode == 0, first.stdout + first.stderr
    assert "1 divergence(s), 0 left for staff." in first.stderr
    events = [json.loads(line) for line in first.stdout.splitlines()]  # stdout: JSON lines only
    divergence = next(e for e in events if e.get("event") == "reconcile_divergence")
    assert (divergence["kind"], divergence["repaired"], divergence["level"]) == (MISSED_WEBHOOK, True, "WARNING")
    assert any(e.get("event") == "reconcile_finished" for e in events)
    assert Order.objects.get(pk=order.pk).status == OrderStatus.PAID

    assert "0 divergence(s)" in run().stderr  # a second run repairs nothing

    Order.objects.filter(pk=order.pk).update(status=OrderStatus.CANCELLED)
    third = run()
    assert third.returncode == 1, third.stdout + third.stderr
    events = [json.loads(line) for line in third.stdout.splitlines()]
    divergence = next(e for e in events if e.get("event") == "reconcile_divergence")
    assert (divergence["kind"], divergence["level"]) == (CAPTURED_CANCELLED_ORDER, "ERROR")


def _database_url() -> str:
    from tests.deploy.conftest import database_url

    return database_url(connection.settings_dict["NAME"])


# --- The alarms ---------------------------------------------------------------------------------


def test_alarms_watch_the_events_the_command_logs():
    from tests.deploy.test_cloudformation import resources

    found = resources()
    divergences = found["PaymentsDivergencesMetricFilter"]["Properties"]
    assert divergences["FilterPattern"] == (
        '{ ($.event = "reconcile_divergence" && $.level = "ERROR") || ($.event = "reconcile_failed") }'
    )
    (metric,) = divergences["MetricTransformations"]
    alarm = found["PaymentsDivergenceAlarm"]["Properties"]
    assert alarm["MetricName"] == metric["MetricName"] == "PaymentsDivergences"
    assert (alarm["Statistic"], alarm["ComparisonOperator"], alarm["Threshold"]) == (
        "Sum",
        "GreaterThanOrEqualToThreshold",
        1,
    )
    assert alarm["AlarmActions"] == [{"Ref": "AlertTopic"}]
    assert "deploy/runbooks/alarms.md" in alarm["AlarmDescription"]

    runs = found["PaymentsReconcileRunsMetricFilter"]["Properties"]
    assert runs["FilterPattern"] == '{ $.event = "reconcile_finished" }'
    (metric,) = runs["MetricTransformations"]
    assert "DefaultValue" not in metric  # an hour without a run must be missing data, not a zero
    missing = found["PaymentsReconcileMissingAlarm"]["Properties"]
    assert missing["MetricName"] == metric["MetricName"]
    assert missing["TreatMissingData"] == "breaching"
    assert (missing["ComparisonOperator"], missing["Threshold"]) == ("LessThanThreshold", 1)
    # Longer than a day between two daily runs (05:15 + up to 15 minutes), within CloudWatch's 7 days.
    window = missing["Period"] * missing["EvaluationPeriods"]
    assert 25 * 3600 <= window <= 7 * 86400
    assert missing["DatapointsToAlarm"] == missing["EvaluationPeriods"]


@pytest.mark.django_db
def test_the_logged_lines_match_the_alarm_patterns(own_stripe, json_log):
    """The JSON lines as the formatter writes them carry the fields and values the filters compare."""
    order, _payment = paid_order(own_stripe)
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.CANCELLED)
    reconcile()
    lines = json_log()
    divergence = next(line for line in lines if line.get("event") == "reconcile_divergence")
    assert (divergence["level"], divergence["kind"], divergence["repaired"]) == (
        "ERROR",
        CAPTURED_CANCELLED_ORDER,
        False,
    )
    assert divergence["logger"] == "shop.payments"
    assert order.email not in json.dumps(lines)
    assert any(line.get("event") == "reconcile_finished" for line in lines)


def test_the_runbook_says_what_to_do_with_every_kind_and_alarm():
    from payments import reconcile as module

    kinds = {
        value for name, value in vars(module).items() if name.isupper() and isinstance(value, str) and "_" in value
    }
    assert MISSED_WEBHOOK in kinds
    assert REFUND_TOTALS_DIFFER in kinds
    runbook = (DEPLOY / "runbooks" / "alarms.md").read_text()
    section = runbook[runbook.index("## aurelia-payments-divergence and aurelia-payments-reconcile-missing") :]
    section = section[: section.index("\n## ", 3)]
    for kind in kinds:
        assert f"`{kind}`" in section, kind
