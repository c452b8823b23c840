"""The sequences the state machine found on main (issue #20), replayed step by step as plain tests.

Each test is a shortest failing sequence hypothesis printed, through the same machine (same rules, same
invariants, checked after every step as hypothesis does). They fail on main and pass once the fix named
in the docstring is merged; they stay as regression tests. Never skipped: a failure here is a bug.
"""

import pytest
from hypothesis.stateful import RULE_MARKER

from .machine import MoneyStockMachine

pytestmark = pytest.mark.django_db(transaction=True)

RING, PENDANT, STUD = 0, 1, 2  # the machine's three variants: stock 1, 1 and 3


class Replay:
    """Calls the machine's rules one after another (skipping one whose precondition does not hold) and checks
    every invariant after each, as hypothesis does."""

    def __init__(self) -> None:
        self.machine = MoneyStockMachine()
        self.machine.catalogue()
        self.check()

    def check(self) -> None:
        self.machine.stock_is_conserved()
        self.machine.money_and_emails_match_every_status()

    def __getattr__(self, name):
        rule = getattr(self.machine, name)
        marker = getattr(rule, RULE_MARKER, None)
        preconditions = marker.preconditions if marker is not None else ()

        def step(**kwargs):
            if not all(precondition(self.machine) for precondition in preconditions):
                return None  # hypothesis would not run this rule now (no event, no 3-D Secure prompt yet)
            result = rule(**kwargs)
            self.check()
            return result

        return step


@pytest.fixture
def replay(stripe_settings):
    return Replay()


def test_csv_import_of_an_old_sheet_records_the_difference_as_an_adjustment(replay):
    """Fix: the import records each stock difference as a recount StockAdjustment (issue #20, one writer each).

    The ring's only piece is sold; a sheet exported before the sale still says 1. On main the import sets
    stock to 1 with no record: a piece appears from nowhere and is on sale while an order holds it."""
    replay.place_offline_order(lines=[(RING, 1)], shopper=0, on_collection=False)
    replay.staff_import_stock_count(variant=RING, counted=1)


def test_expired_order_email_says_the_payment_did_not_arrive_in_time(replay):
    """Fix: expiry passes the payment-timeout reason, so the e-mail does not promise a refund of money never paid."""
    replay.place_offline_order(lines=[(STUD, 1)], shopper=0, on_collection=False)
    replay.expiry_timer(deadline="every")


def test_expiry_does_not_cancel_a_card_order_whose_payment_succeeded_before_its_webhook(replay):
    """Fix: expiry asks Stripe for the intent's state first and leaves a succeeded payment to the webhook."""
    replay.place_card_order(lines=[(STUD, 1)], shopper=0, collect=False, card="good")
    replay.expiry_timer(deadline="card")  # the webhook is late (an outage longer than the card deadline)
    replay.webhook(event=0)


def test_staff_cancel_cancels_the_open_3ds_payment_so_it_cannot_reinstate_the_order(replay):
    """Fix: order_staff_cancel cancels the order's open PaymentIntents at Stripe.

    On main the shopper completes 3-D Secure after staff cancelled: the card is charged, and the webhook
    then puts the cancelled order back to paid."""
    order = replay.place_card_order(lines=[(RING, 1)], shopper=0, collect=False, card="3ds")
    replay.staff_cancel(order=order)
    replay.authenticate_3ds(prompt=0, success=True)
    replay.webhook(event=0)


def test_a_late_webhook_does_not_undo_a_staff_cancellation(replay):
    """Fix: a staff cancellation is final; the payment that succeeded before it (webhook late) is refunded.

    Found by the machine on main: staff cancel an order whose card payment succeeded a moment earlier; its
    webhook then puts the cancelled order back to paid ("paid_late_reinstated")."""
    order = replay.place_card_order(lines=[(STUD, 1)], shopper=0, collect=False, card="good")
    replay.staff_cancel(order=order)
    replay.webhook(event=0)


def test_staff_cancel_of_a_paid_card_order_refunds_the_payment(replay):
    """Fix: order_staff_cancel refunds what was captured (or is refused); on main the money stays with the shop
    while the e-mail says the full amount comes back."""
    order = replay.place_card_order(lines=[(STUD, 1)], shopper=0, collect=False, card="good")
    replay.webhook(event=0)
    replay.staff_cancel(order=order)


def test_record_payment_is_refused_for_a_card_order_so_its_webhook_cannot_refund_the_only_payment(replay):
    """Fix: order_payment_record refuses an order with a card PaymentIntent.

    On main staff record a payment while the card's webhook is on its way; the webhook then refunds the card
    as "a second payment for a paid order" and the order stays paid with no money."""
    order = replay.place_card_order(lines=[(STUD, 1)], shopper=0, collect=False, card="good")
    replay.staff_record_payment(order=order)
    replay.webhook(event=0)


def test_refund_email_waits_for_stripe_and_a_failed_automatic_refund_is_retried(replay):
    """Fix: the refund e-mail is queued once Stripe says the money moved; refunds_retry retries failed refunds.

    Two tabs: 3-D Secure left open in one, a good card in the other pays the order. The 3-D Secure payment
    then completes, and its webhook arrives while Stripe is unreachable: on main the shopper is e-mailed
    "we have refunded" although the refund failed, and nothing ever retries it."""
    order = replay.place_card_order(lines=[(STUD, 1)], shopper=0, collect=False, card="3ds")
    replay.pay_by_card(order=order, card="good")
    replay.webhook(event=0)
    replay.authenticate_3ds(prompt=0, success=True)
    replay.webhook(event=1, stripe_down=True)
    replay.refund_timer()


def test_expiry_while_stripe_is_down_leaves_no_payable_intent_on_a_cancelled_order(replay):
    """Fix: expiry asks Stripe first; when Stripe cannot answer it does not cancel (the next run will).

    On main expiry cancels the order and its intent cancellation fails quietly: the shopper then completes
    3-D Secure and is charged for a cancelled order. (On main the expiry-reason check fails first.)"""
    replay.place_card_order(lines=[(RING, 1)], shopper=0, collect=False, card="3ds")
    replay.expiry_timer(deadline="card", stripe_down=True)
    replay.authenticate_3ds(prompt=0, success=True)
