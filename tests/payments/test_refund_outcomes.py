"""Only Stripe's refusal makes a refund failed: a refund whose answer was lost stays pending, still counts
against what may be refunded, and is sent again with the same key (review finding 3 of issue #20)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from mailqueue.models import Mail
from payments.models import Refund, RefundStatus
from payments.refunds import RefundError, payment_refund, payment_refundable, refund_key_issue, refunds_retry
from tests.payments.lost_answers import answers_lost
from tests.payments.test_lifecycle import stripe_down
from tests.payments.test_refunds import paid, stripe_refunded  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db


def retry_later(settings, django_capture_on_commit_callbacks) -> int:
    later = timezone.now() + timedelta(minutes=settings.SHOP_REFUND_RETRY_AFTER_MINUTES + 1)
    with django_capture_on_commit_callbacks(execute=True):
        return refunds_retry(now=later)


def test_a_refund_stripe_made_but_whose_answer_was_lost_is_never_made_twice(
    paid,  # noqa: F811
    stripe_settings,
    settings,
    django_capture_on_commit_callbacks,
):
    payment, _ = paid
    with answers_lost(upstream=stripe_settings.url) as (url, lost):
        settings.STRIPE_API_BASE = url
        with pytest.raises(RefundError, match="do not refund again"):
            payment_refund(
                payment=payment, amount=Decimal("30.00"), actor=None, restock=False, idempotency_key=refund_key_issue()
            )
    assert lost == ["POST /v1/refunds"]
    settings.STRIPE_API_BASE = stripe_settings.url
    assert stripe_refunded(stripe_settings, payment.intent_id) == 3000  # Stripe did refund
    (refund,) = Refund.objects.all()
    assert refund.status == RefundStatus.PENDING  # not "failed, nothing refunded"
    assert payment_refundable(payment=payment) == Decimal("70.00")  # still counted
    # Staff trying again with a fresh form cannot go above what was paid ...
    with pytest.raises(RefundError, match=r"At most £70\.00"):
        payment_refund(
            payment=payment, amount=Decimal("100.00"), actor=None, restock=False, idempotency_key=refund_key_issue()
        )
    assert Mail.objects.filter(kind="order_refunded").count() == 0  # not told before Stripe confirmed it
    # ... and the timer's retry, with the same key, finds the refund Stripe made instead of making another.
    assert retry_later(settings, django_capture_on_commit_callbacks) == 1
    assert Refund.objects.get().status == RefundStatus.SUCCEEDED
    assert stripe_refunded(stripe_settings, payment.intent_id) == 3000
    assert Mail.objects.filter(kind="order_refunded", reference=payment.order.number).count() == 1


def test_a_refund_while_stripe_cannot_be_reached_stays_pending_and_is_sent_by_the_timer(
    paid,  # noqa: F811
    stripe_settings,
    settings,
    django_capture_on_commit_callbacks,
):
    payment, _ = paid
    stripe_down(settings)
    with pytest.raises(RefundError, match="stays pending"):
        payment_refund(
            payment=payment, amount=Decimal("30.00"), actor=None, restock=False, idempotency_key=refund_key_issue()
        )
    assert Refund.objects.get().status == RefundStatus.PENDING
    assert retry_later(settings, django_capture_on_commit_callbacks) == 0  # still down: still pending
    assert Refund.objects.get().status == RefundStatus.PENDING
    settings.STRIPE_API_BASE = stripe_settings.url
    assert retry_later(settings, django_capture_on_commit_callbacks) == 1
    assert stripe_refunded(stripe_settings, payment.intent_id) == 3000
