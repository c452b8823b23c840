"""Every pound and every piece accounted for (issue #20 part 5): the state machine run against Postgres and
localstripe. ``make test`` runs a fixed, bounded set of sequences; ``make machine`` runs many more."""

import pytest
from hypothesis.stateful import run_state_machine_as_test

from .conftest import machine_settings
from .machine import MoneyStockMachine

# Real commits: row locks, on-commit refunds and intent cancellations behave as in production.
pytestmark = pytest.mark.django_db(transaction=True)


def test_shoppers_webhooks_timers_and_staff_keep_money_stock_and_emails_true(stripe_settings):
    run_state_machine_as_test(MoneyStockMachine, settings=machine_settings())
