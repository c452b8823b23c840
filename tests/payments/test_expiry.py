"""Every reservation ends: overdue unpaid orders are cancelled once, their stock returns once, their intents end;
a payment that arrives afterwards takes the pieces again or is refunded."""

import json
import shlex
import subprocess
from datetime import timedelta

import pytest
import requests
from django.core.management import call_command
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from catalog.models import ProductVariant
from mailqueue.models import Mail
from orders.models import Order, OrderStatus
from payments.expiry import order_expire, orders_expire_overdue
from payments.models import CardSetup, Payment, Refund, RefundSource
from payments.services import PaymentError, payment_charge, payment_setup_start
from tests.deploy.test_maintenance import APP_PYTHON, HARDENING, unit, units_verify
from tests.e2e.conftest import PYTHON, REPO
from tests.factories import ProductVariantFactory
from tests.orders.conftest import cart_with, place
from tests.orders.test_views import add
from tests.payments.fixtures import SECRET_KEY
from tests.payments.helpers import card_order, card_setup, intent_event, post_event
from tests.payments.test_pages_and_abuse import place_card_order
from tests.threads import run_together

DEPLOY = REPO / "deploy"
SERVICE = DEPLOY / "jewelry-expire-orders.service"
TIMER = DEPLOY / "jewelry-expire-orders.timer"


def overdue(order: Order) -> None:
    Order.objects.filter(pk=order.pk).update(payment_deadline=timezone.now() - timedelta(minutes=1))


def stock(variant) -> int:
    return ProductVariant.objects.get(pk=variant.pk).stock


def intent_status(localstripe, intent_id: str) -> str:
    answer = requests.get(f"{localstripe.url}/v1/payment_intents/{intent_id}", auth=(SECRET_KEY, ""), timeout=10)
    return answer.json()["status"]


@pytest.mark.django_db
def test_deadlines_by_payment_method(settings):
    before = timezone.now()
    order, _ = card_order()
    assert before + timedelta(minutes=29) < order.payment_deadline <= timezone.now() + timedelta(minutes=30)
    variant = card_order()[1]
    transfer = place(cart_with((variant, 1)), email="bob@example.com")
    assert transfer.payment_deadline - transfer.created_at > timedelta(days=settings.SHOP_BANK_TRANSFER_DAYS - 1)


@pytest.mark.django_db
def test_expiry_cancels_overdue_orders_returns_stock_once_and_cancels_the_intent(
    stripe_settings, django_capture_on_commit_callbacks
):
    order, variant = card_order(stock=1)
    assert stock(variant) == 0
    # A 3-D Secure card left half-way: the intent is open and could still be paid.
    pm = card_setup(stripe_settings, setup_secret=payment_setup_start(order=order), number="4000002760003184")
    assert payment_charge(order=order, payment_method_id=pm).status == "requires_action"
    intent_id = Payment.objects.get(order=order).intent_id
    fresh, _ = card_order(email="fresh@example.com")  # within its deadline: untouched
    overdue(order)

    with django_capture_on_commit_callbacks(execute=True):
        assert orders_expire_overdue() == [order.number]
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED
    assert stock(variant) == 1
    assert intent_status(stripe_settings, intent_id) == "canceled"
    assert Payment.objects.get(intent_id=intent_id).status == "canceled"
    assert Order.objects.get(pk=fresh.pk).status == OrderStatus.AWAITING_PAYMENT

    call_command("expire_unpaid_orders")  # a second run finds nothing: stock came back exactly once
    assert order_expire(order_id=order.pk) is False
    assert stock(variant) == 1
    assert order.events.filter(to_status=OrderStatus.CANCELLED).count() == 1


@pytest.mark.django_db
def test_the_payment_page_refuses_an_expired_order(client, stripe_settings):
    """Over the page and its charge call: past the deadline no card form, no SetupIntent, no charge."""
    add(client, ProductVariantFactory(stock=2))
    order = place_card_order(client)
    overdue(order)
    pay = client.get(reverse("payments:pay", kwargs={"number": order.number}))
    assert pay.status_code == 302
    assert pay["Location"] == reverse("orders:confirmation", kwargs={"number": order.number})
    assert not CardSetup.objects.filter(order=order).exists()
    charge = client.post(
        reverse("payments:charge", kwargs={"number": order.number}),
        json.dumps({"payment_method": card_setup(stripe_settings, setup_secret=_other_order_setup())}),
        content_type="application/json",
    )
    assert charge.status_code == 409, charge.content
    assert not Payment.objects.filter(order=order).exists()
    order.refresh_from_db()
    with pytest.raises(PaymentError):  # the service says the same to any other caller
        payment_setup_start(order=order)


def _other_order_setup() -> str:
    """A real card set up at localstripe (for another, payable order): the expired one hands out none."""
    other, _ = card_order()
    return payment_setup_start(order=other)


def _paid_event(order: Order, intent_id: str) -> dict:
    from payments import gateway

    intent = {
        "id": intent_id,
        "object": "payment_intent",
        "amount": gateway.to_minor(order.total, "GBP"),
        "currency": "gbp",
        "status": "succeeded",
        "metadata": {"order_number": order.number},
    }
    return intent_event(intent)


@pytest.mark.django_db
def test_payment_after_expiry_takes_the_pieces_again_when_they_are_still_there(
    stripe_settings, django_capture_on_commit_callbacks
):
    order, variant = card_order(stock=1)
    pm = card_setup(stripe_settings, setup_secret=payment_setup_start(order=order))
    payment_charge(order=order, payment_method_id=pm)  # paid at minute 29 ...
    intent_id = Payment.objects.get(order=order).intent_id
    overdue(order)
    with django_capture_on_commit_callbacks(execute=True):
        # ... just after the job asked Stripe (the intent was open then) and before it took the lock:
        # the one window left, which the late-payment edge of order_transition covers.
        assert order_expire(order_id=order.pk)
    assert stock(variant) == 1
    with django_capture_on_commit_callbacks(execute=True):
        outcome = post_event(_paid_event(order, intent_id)).json()["outcome"]
    assert outcome == "paid_late_reinstated"
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert stock(variant) == 0
    assert not Refund.objects.exists()
    assert Mail.objects.filter(kind="order_paid", reference=order.number).count() == 1


@pytest.mark.django_db
def test_payment_after_expiry_is_refunded_when_the_piece_sold_again(
    stripe_settings, django_capture_on_commit_callbacks
):
    order, variant = card_order(stock=1)
    pm = card_setup(stripe_settings, setup_secret=payment_setup_start(order=order))
    payment_charge(order=order, payment_method_id=pm)
    intent_id = Payment.objects.get(order=order).intent_id
    overdue(order)
    with django_capture_on_commit_callbacks(execute=True):
        assert order_expire(order_id=order.pk)  # the race window, as above
    place(cart_with((variant, 1)), email="second@example.com")  # someone else bought it meanwhile
    with django_capture_on_commit_callbacks(execute=True):
        outcome = post_event(_paid_event(order, intent_id)).json()["outcome"]
    assert outcome == "paid_late_refunded"
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED  # never paid with no stock behind it
    assert stock(variant) == 0
    refund = Refund.objects.get()
    assert (refund.source, refund.status, refund.amount) == (RefundSource.AUTOMATIC, "succeeded", order.total)
    assert refund.stripe_refund_id.startswith("re_")
    assert list(Mail.objects.filter(kind="order_refunded").values_list("to", "reference")) == [
        (order.email, order.number)
    ]
    assert not Mail.objects.filter(kind="order_paid", reference=order.number).exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("attempt", range(3))
def test_expiry_and_webhook_at_the_same_moment_one_wins_cleanly(stripe_settings, attempt):
    order, variant = card_order(stock=1)
    pm = card_setup(stripe_settings, setup_secret=payment_setup_start(order=order))
    payment_charge(order=order, payment_method_id=pm)
    intent_id = Payment.objects.get(order=order).intent_id
    overdue(order)
    event = _paid_event(order, intent_id)
    expired, webhook = run_together(
        [lambda: order_expire(order_id=order.pk), lambda: post_event(event).json()["outcome"]], join_timeout=60
    )
    results = {"expire": expired, "webhook": webhook}
    assert results["expire"] in (True, False)
    # Either the payment came first (paid, expiry finds nothing) or the expiry did (the late payment retakes it).
    assert results["webhook"] == ("paid_late_reinstated" if results["expire"] else "paid")
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert stock(variant) == 0


# --- The timer and its service ------------------------------------------------------------------


def test_service_runs_the_command_as_the_shop_runs():
    shop = unit(DEPLOY / "jewelry.service")["Service"]
    job = unit(SERVICE)["Service"]
    assert job["Type"] == ["oneshot"]
    for key in ("User", "Group", "WorkingDirectory", "EnvironmentFile", *HARDENING):
        assert job.get(key) == shop[key], key
    assert job["ExecStart"] == [f"{APP_PYTHON} manage.py expire_unpaid_orders"]
    timer = unit(TIMER)
    assert timer["Timer"]["Unit"] == [SERVICE.name]
    assert timer["Timer"]["OnCalendar"] == ["*:0/5"]
    assert timer["Install"]["WantedBy"] == ["timers.target"]


def test_units_pass_systemd_analyze(tmp_path):
    normalized = units_verify(tmp_path, service=SERVICE, timer=TIMER)
    assert "Normalized form: *-*-* *:00/5:00" in normalized, normalized


@pytest.mark.django_db(transaction=True)  # the subprocess must see committed rows
def test_the_units_command_cancels_an_overdue_order(stripe_settings):
    import os

    order, variant = card_order(stock=1)
    overdue(order)
    (command,) = unit(SERVICE)["Service"]["ExecStart"]
    argv = shlex.split(command)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update(
        DJANGO_SETTINGS_MODULE="jewelry_site.settings.test",
        DJANGO_DATABASE_URL=_database_url(),
        **stripe_settings.env(),
    )
    done = subprocess.run([PYTHON, *argv[1:]], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Cancelled 1 unpaid order(s) past their deadline.\n  {order.number}" in done.stdout
    assert Order.objects.get(pk=order.pk).status == OrderStatus.CANCELLED
    assert stock(variant) == 1


def _database_url() -> str:
    from tests.deploy.conftest import database_url

    return database_url(connection.settings_dict["NAME"])
