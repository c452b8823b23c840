"""Refunds that did not finish are finished by the expiry timer (payments.refunds.refunds_retry), and the shopper
is told money moved only once Stripe accepted it (issue #20)."""

import io
import logging
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from mailqueue.models import Mail
from orders.models import Order, OrderStatus
from payments.expiry import order_expire
from payments.models import Refund, RefundSource, RefundStatus
from payments.refunds import payment_refund, refunds_retry
from tests.factories import StaffUserFactory
from tests.orders.conftest import cart_with, place
from tests.payments.helpers import card_order, post_event
from tests.payments.test_lifecycle import charged, overdue, stripe_down, stripe_refunded, succeeded_event
from tests.payments.test_refunds import paid  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db


def timer() -> str:
    out = io.StringIO()
    call_command("expire_unpaid_orders", stdout=out)
    return out.getvalue()


def refund_mails(order: Order) -> int:
    return Mail.objects.filter(kind="order_refunded", reference=order.number).count()


def test_a_refund_left_pending_by_a_dead_process_is_sent_once_by_the_timer(
    paid,  # noqa: F811
    stripe_settings,
    django_capture_on_commit_callbacks,
):
    payment, _ = paid
    order = payment.order
    # payment_refund's first transaction committed, then the worker was killed before it asked Stripe.
    refund = Refund.objects.create(
        payment=payment, amount=Decimal("40.00"), source=RefundSource.STAFF, idempotency_key="dead-worker"
    )
    fresh = Refund.objects.create(
        payment=payment, amount=Decimal("10.00"), source=RefundSource.STAFF, idempotency_key="in-flight"
    )
    Refund.objects.filter(pk=refund.pk).update(created_at=timezone.now() - timedelta(minutes=11))
    with django_capture_on_commit_callbacks(execute=True):
        assert "Sent 1 refund(s)" in timer()
    refund.refresh_from_db()
    assert refund.status == RefundStatus.SUCCEEDED
    assert refund.stripe_refund_id.startswith("re_")
    assert Refund.objects.get(pk=fresh.pk).status == RefundStatus.PENDING  # its own request may still send it
    assert stripe_refunded(stripe_settings, payment.intent_id) == 4000
    assert order.events.filter(note="Refunded £40.00 by card", amount=Decimal("40.00")).count() == 1
    assert refund_mails(order) == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert refunds_retry(now=timezone.now()) == 0  # idempotent: nothing left to send
    assert stripe_refunded(stripe_settings, payment.intent_id) == 4000
    assert refund_mails(order) == 1


def test_a_late_payment_refunded_while_stripe_is_down_is_retried_and_told_only_once_it_went_through(
    stripe_settings, settings, client, django_capture_on_commit_callbacks
):
    order, variant = card_order(stock=1)
    intent_id = charged(stripe_settings, order)
    overdue(order)
    with django_capture_on_commit_callbacks(execute=True):
        assert order_expire(order_id=order.pk)  # expired in the window before the payment was confirmed
    place(cart_with((variant, 1)), email="second@example.com")  # and the last piece sold to someone else
    stripe_down(settings)
    event = succeeded_event(order, intent_id)
    with django_capture_on_commit_callbacks(execute=True):
        assert post_event(event).json()["outcome"] == "paid_late_refunded"
    refund = Refund.objects.get()
    # Unanswered, not refused: it may have been made, so it stays pending and counted (never refunded twice).
    assert (refund.source, refund.status) == (RefundSource.AUTOMATIC, RefundStatus.PENDING)
    assert refund_mails(order) == 0  # never "we have refunded" before Stripe said so
    assert post_event(event).json()["outcome"] == "duplicate"  # Stripe's retry: the timer is what finishes it
    client.force_login(StaffUserFactory())
    page = client.get(reverse("admin:payments_payment_refund", args=[refund.payment_id]))
    assert page.context["remaining"] == 0
    Refund.objects.filter(pk=refund.pk).update(created_at=timezone.now() - timedelta(minutes=11))
    with django_capture_on_commit_callbacks(execute=True):
        timer()  # Stripe still down: it stays pending, and is tried again next run
    assert Refund.objects.get().status == RefundStatus.PENDING
    settings.STRIPE_API_BASE = stripe_settings.url
    with django_capture_on_commit_callbacks(execute=True):
        assert "Sent 1 refund(s)" in timer()
    assert Refund.objects.get().status == RefundStatus.SUCCEEDED
    assert stripe_refunded(stripe_settings, intent_id) == int(order.total * 100)
    assert refund_mails(order) == 1
    assert Order.objects.get(pk=order.pk).status == OrderStatus.CANCELLED


def test_a_failed_automatic_refund_that_staff_already_made_by_hand_is_not_sent_again(
    stripe_settings, settings, caplog, django_capture_on_commit_callbacks
):
    order, variant = card_order(stock=1)
    intent_id = charged(stripe_settings, order)
    overdue(order)
    with django_capture_on_commit_callbacks(execute=True):
        order_expire(order_id=order.pk)
    place(cart_with((variant, 1)), email="second@example.com")
    stripe_down(settings)
    with django_capture_on_commit_callbacks(execute=True):
        post_event(succeeded_event(order, intent_id))
    settings.STRIPE_API_BASE = stripe_settings.url
    automatic = Refund.objects.get()
    # As if Stripe had refused it (a definite "no"): only then does a refund stop counting.
    Refund.objects.filter(pk=automatic.pk).update(status=RefundStatus.FAILED)
    payment_refund(payment=automatic.payment, amount=order.total, actor=None, restock=False, idempotency_key="hand")
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="shop.payments"):
        assert refunds_retry() == 0
    # Closed once, with a history line: no refund is left failed, and the next run says nothing more.
    assert Refund.objects.get(pk=automatic.pk).status == RefundStatus.SUPERSEDED
    assert [r.event for r in caplog.records if getattr(r, "event", "")] == ["refund_retry_exceeds"]
    assert order.events.filter(note__contains="closed: refunded another way").count() == 1
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="shop.payments"):
        assert refunds_retry() == 0
    assert [r.event for r in caplog.records if getattr(r, "event", "")] == []
    assert stripe_refunded(stripe_settings, intent_id) == int(order.total * 100)
