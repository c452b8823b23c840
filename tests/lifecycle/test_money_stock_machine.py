"""Every pound and every piece accounted for (issue #20 part 5): the state machine run against Postgres and
localstripe. ``make test`` runs a fixed, bounded set of sequences; ``make machine`` runs many more."""

import pytest
from hypothesis.stateful import run_state_machine_as_test

from orders.models import Order, OrderStatus

from .conftest import machine_settings
from .machine import MoneyStockMachine

# Real commits: row locks, on-commit refunds and intent cancellations behave as in production.
pytestmark = pytest.mark.django_db(transaction=True)


def test_shoppers_webhooks_timers_and_staff_keep_money_stock_and_emails_true(stripe_settings):
    run_state_machine_as_test(MoneyStockMachine, settings=machine_settings())


def test_the_invariants_hold_on_the_paths_main_gets_right(stripe_settings):
    """Positive control: journeys the shop already handles pass every invariant after every step, so a failure
    of the machine is a bug in the shop, not in the invariants."""
    from .test_found_examples import PENDANT, RING, STUD, Replay

    replay = Replay()
    card = replay.place_card_order(lines=[(STUD, 1)], shopper=0, collect=False, card="declined")
    replay.pay_by_card(order=card, card="3ds")
    replay.authenticate_3ds(prompt=0, success=False)
    replay.webhook(event=0)  # 3-D Secure failed
    replay.pay_by_card(order=card, card="good")
    replay.webhook(event=1)
    replay.webhook(event=1)  # Stripe delivers again: nothing changes
    replay.earlier_failure_arrives_late(event=1)
    replay.webhook(event=2)
    replay.staff_refund(order=card, full=False)
    replay.staff_fulfil(order=card)
    replay.staff_fulfil(order=card)
    collected = replay.place_offline_order(lines=[(RING, 1), (STUD, 1)], shopper=1, on_collection=True)
    replay.staff_fulfil(order=collected)
    transfer = replay.place_offline_order(lines=[(PENDANT, 1)], shopper=2, on_collection=False)
    replay.staff_record_payment(order=transfer)
    replay.staff_adjust_stock(variant=PENDANT, change=2)
    refunded = replay.place_card_order(lines=[(PENDANT, 1)], shopper=2, collect=True, card="good")
    replay.webhook(event=3)
    replay.staff_refund(order=refunded, full=True)
    lapsed = replay.place_card_order(lines=[(STUD, 1)], shopper=0, collect=False, card="3ds")
    unwanted = replay.place_offline_order(lines=[(PENDANT, 1)], shopper=1, on_collection=False)
    replay.staff_cancel(order=unwanted)
    replay.refund_timer()

    statuses = dict(Order.objects.values_list("pk", "status"))
    assert statuses == {
        card: OrderStatus.DELIVERED,
        collected: OrderStatus.READY_FOR_COLLECTION,
        transfer: OrderStatus.PAID,
        refunded: OrderStatus.CANCELLED,
        lapsed: OrderStatus.AWAITING_PAYMENT,
        unwanted: OrderStatus.CANCELLED,
    }
