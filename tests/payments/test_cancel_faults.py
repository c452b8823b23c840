"""A staff cancel whose refund Stripe does not answer (review findings 1 and 3 of issue #20): the money
taken is never left on an unpaid order, the refund is never made twice, and the timer finishes the cancel."""

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from loopback import wait_until
from mailqueue.models import Mail
from orders.models import Order, OrderStatus
from orders.services import OrderError
from orders.workflow import order_staff_cancel, order_transition
from payments import gateway
from payments.models import Payment, Refund, RefundStatus
from payments.refunds import refunds_retry
from tests.factories import StaffUserFactory
from tests.payments.helpers import card_order, card_setup, post_event
from tests.payments.lost_answers import answers_lost, refunds
from tests.payments.test_lifecycle import (
    cancel_mail,
    charged,
    paid_order,  # noqa: F401 (fixture)
    stock,
    stripe_refunded,
    succeeded_event,
)

pytestmark = pytest.mark.django_db


def timer(settings, django_capture_on_commit_callbacks) -> int:
    later = timezone.now() + timedelta(minutes=settings.SHOP_REFUND_RETRY_AFTER_MINUTES + 1)
    with django_capture_on_commit_callbacks(execute=True):
        return refunds_retry(now=later)


def test_a_charge_seen_at_cancel_whose_refund_cannot_be_sent_leaves_the_order_paid_then_the_timer_cancels_it(
    stripe_settings, settings, django_capture_on_commit_callbacks
):
    order, variant = card_order(stock=1)
    intent_id = charged(stripe_settings, order)  # Stripe took the money; the webhook is late
    with answers_lost(upstream=stripe_settings.url, reach=False) as (url, lost):
        settings.STRIPE_API_BASE = url  # Stripe answers everything but refunds
        with django_capture_on_commit_callbacks(execute=True), pytest.raises(OrderError, match="did not answer"):
            order_staff_cancel(order=order, actor=StaffUserFactory(), note="customer rang")
    assert lost == ["POST /v1/refunds"]
    settings.STRIPE_API_BASE = stripe_settings.url
    # Money taken: the order says paid (not "awaiting payment", which expiry would defer on for ever).
    assert Order.objects.get(pk=order.pk).status == OrderStatus.PAID
    assert Refund.objects.get().status == RefundStatus.PENDING
    with django_capture_on_commit_callbacks(execute=True):
        assert post_event(succeeded_event(order, intent_id)).json()["outcome"] == "already_recorded"
    Refund.objects.update(created_at=timezone.now() - timedelta(minutes=settings.SHOP_REFUND_RETRY_AFTER_MINUTES + 1))
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("expire_unpaid_orders", stdout=out)  # the timer
    assert "Cancelled 1 order(s) whose refund Stripe has now confirmed" in out.getvalue()
    assert stripe_refunded(stripe_settings, intent_id) == gateway.to_minor(order.total, "GBP")
    assert Order.objects.get(pk=order.pk).status == OrderStatus.CANCELLED  # the cancel staff asked for
    assert stock(variant) == 1
    assert "has been refunded to your card" in cancel_mail(order)
    assert timer(settings, django_capture_on_commit_callbacks) == 0
    assert stripe_refunded(stripe_settings, intent_id) == gateway.to_minor(order.total, "GBP")


def test_a_cancel_refund_whose_answer_was_lost_is_not_made_again_when_staff_cancel_again(
    paid_order,  # noqa: F811
    stripe_settings,
    settings,
    django_capture_on_commit_callbacks,
):
    order, _, intent_id = paid_order
    with answers_lost(upstream=stripe_settings.url) as (url, lost):
        settings.STRIPE_API_BASE = url  # Stripe refunds, but its answer is lost
        with pytest.raises(OrderError, match="do not refund it by hand"):
            order_staff_cancel(order=order, actor=StaffUserFactory())
    assert lost == ["POST /v1/refunds"]
    settings.STRIPE_API_BASE = stripe_settings.url
    assert stripe_refunded(stripe_settings, intent_id) == 10000
    with django_capture_on_commit_callbacks(execute=True):
        order_staff_cancel(order=Order.objects.get(pk=order.pk), actor=StaffUserFactory())  # staff click again
    assert stripe_refunded(stripe_settings, intent_id) == 10000  # once, not twice
    assert list(Refund.objects.values_list("status", flat=True)) == [RefundStatus.SUCCEEDED]
    assert Order.objects.get(pk=order.pk).status == OrderStatus.CANCELLED
    assert "£100.00 has been refunded to your card" in cancel_mail(order)
    assert not Mail.objects.filter(kind="order_refunded", reference=order.number).exists()


def test_staff_cancel_of_an_order_whose_intent_stripe_does_not_know_cancels_it(
    stripe_settings, django_capture_on_commit_callbacks
):
    order, variant = card_order(stock=1)
    # Made with another key or mode (a test key in live, say): Stripe answers 404 to cancel and to read.
    Payment.objects.create(order=order, intent_id="pi_unknown_to_stripe", amount=order.total, currency="GBP", status="")
    with django_capture_on_commit_callbacks(execute=True):
        order_staff_cancel(order=order, actor=StaffUserFactory())
    assert Order.objects.get(pk=order.pk).status == OrderStatus.CANCELLED
    assert Payment.objects.get().status == "canceled"
    assert stock(variant) == 1


def test_staff_cancel_when_stripe_fails_reading_an_intent_back_says_try_again(stripe_settings, settings):
    order, _ = card_order(stock=1)
    intent_id = charged(stripe_settings, order)  # succeeded: Stripe refuses to cancel it, then we read it back
    with answers_lost(upstream=stripe_settings.url, lose=reads, reach=False) as (url, lost):
        settings.STRIPE_API_BASE = url
        with pytest.raises(OrderError, match="Stripe did not answer"):
            order_staff_cancel(order=order, actor=StaffUserFactory())
    assert lost == [f"GET /v1/payment_intents/{intent_id}"]
    assert Order.objects.get(pk=order.pk).status == OrderStatus.AWAITING_PAYMENT  # nothing changed


def reads(method: str, path: str) -> bool:
    return method == "GET" and path.startswith("/v1/payment_intents/")


def never(method: str, path: str) -> bool:
    return False


@pytest.mark.django_db(transaction=True)
def test_a_payment_confirmed_while_the_cancels_refund_is_at_stripe_is_refunded_too(stripe_settings, settings):
    order, variant = card_order(stock=2)
    first = charged(stripe_settings, order)  # Stripe took it; the webhook is late
    # A second tab's payment, made at Stripe before the cancel and not yet recorded by the shop.
    _, secret = gateway.setup_intent_create(order_number=order.number)
    second = gateway.payment_intent_create(
        order_number=order.number,
        amount_minor=gateway.to_minor(order.total, "GBP"),
        currency="GBP",
        payment_method=card_setup(stripe_settings, setup_secret=secret),
        idempotency_key=f"tab-{order.number}",
    )
    outcomes = []

    def second_webhook_lands(method: str, path: str) -> None:
        if refunds(method, path) and not outcomes:  # while the cancel's first refund is at Stripe
            outcomes.append(post_event(succeeded_event(order, second.id)).json()["outcome"])

    with answers_lost(upstream=stripe_settings.url, lose=never, meanwhile=second_webhook_lands) as (url, _):
        settings.STRIPE_API_BASE = url
        order_staff_cancel(order=order, actor=StaffUserFactory())
        pending = Refund.objects.filter(status=RefundStatus.PENDING)
        wait_until(lambda: not pending.exists(), timeout=20, what="the second payment's refund")
    assert len(outcomes) == 1
    assert Order.objects.get(pk=order.pk).status == OrderStatus.CANCELLED
    total = gateway.to_minor(order.total, "GBP")
    assert (stripe_refunded(stripe_settings, first), stripe_refunded(stripe_settings, second.id)) == (total, total)
    assert set(Refund.objects.values_list("status", flat=True)) == {RefundStatus.SUCCEEDED}
    assert stock(variant) == 2


@pytest.mark.django_db(transaction=True)
def test_an_order_shipped_while_the_cancels_refund_is_at_stripe_tells_shopper_and_staff_it_was_refunded(
    stripe_settings, settings, django_capture_on_commit_callbacks
):
    order, _ = card_order(stock=1)
    charged(stripe_settings, order)
    with django_capture_on_commit_callbacks(execute=True):
        post_event(succeeded_event(order, Payment.objects.get(order=order).intent_id))
    colleague = StaffUserFactory()

    def colleague_ships(method: str, path: str) -> None:
        if refunds(method, path):
            order_transition(
                order=Order.objects.get(pk=order.pk), to_status=OrderStatus.SHIPPED, actor=colleague, note="posted"
            )

    with answers_lost(upstream=stripe_settings.url, lose=never, meanwhile=colleague_ships) as (url, _):
        settings.STRIPE_API_BASE = url
        with pytest.raises(OrderError, match=r"was refunded £.* at Stripe, but meanwhile it became Shipped"):
            order_staff_cancel(order=order, actor=StaffUserFactory())
    assert Order.objects.get(pk=order.pk).status == OrderStatus.SHIPPED
    assert Refund.objects.get().status == RefundStatus.SUCCEEDED
    assert Mail.objects.filter(kind="order_refunded", reference=order.number).count() == 1
