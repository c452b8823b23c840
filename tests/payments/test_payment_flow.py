"""Card payment against localstripe: the PaymentIntent flow, and the signed webhook that alone marks an order paid."""

import logging
from decimal import Decimal

import pytest
import requests
from django.test import Client
from django.urls import reverse

from mailqueue.models import Mail
from orders.models import Order, OrderStatus
from payments import gateway
from payments.models import Payment, StripeEvent
from payments.services import payment_charge, payment_setup_start
from tests.payments.fixtures import SECRET_KEY
from tests.payments.helpers import (
    DECLINED_AT_CHARGE,
    NEEDS_3DS,
    authenticate_payment,
    card_order,
    card_setup,
    intent_event,
    post_event,
    signed,
)
from tests.threads import run_together


def localstripe_event(localstripe, intent_id: str, type: str = "payment_intent.succeeded") -> dict:
    """The event localstripe itself recorded for this intent (what it would deliver to the webhook)."""
    matches = [e for e in localstripe.events(type=type) if e["data"]["object"]["id"] == intent_id]
    assert len(matches) == 1, matches
    return matches[0]


def pay(localstripe, order, number="4242424242424242"):
    pm = card_setup(localstripe, setup_secret=payment_setup_start(order=order), number=number)
    return payment_charge(order=order, payment_method_id=pm)


@pytest.mark.django_db
def test_good_card_then_localstripes_own_signed_event_marks_the_order_paid_once(
    stripe_settings, django_capture_on_commit_callbacks
):
    order, _ = card_order(price=Decimal("120.50"))  # + £5 standard delivery
    result = pay(stripe_settings, order)
    assert result.status == "succeeded"
    payment = Payment.objects.get(order=order)
    assert (payment.amount, payment.currency) == (Decimal("125.50"), "GBP")
    order.refresh_from_db()
    assert order.status == OrderStatus.AWAITING_PAYMENT  # the charge call alone never marks it paid

    event = localstripe_event(stripe_settings, payment.intent_id)
    assert event["data"]["object"]["amount"] == 12550  # minor units, computed on the server
    with django_capture_on_commit_callbacks(execute=True):
        response = post_event(event)
    assert response.status_code == 200
    assert response.json()["outcome"] == "paid"
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert list(Mail.objects.filter(kind="order_paid").values_list("reference", "to")) == [(order.number, order.email)]

    with django_capture_on_commit_callbacks(execute=True):
        again = post_event(event)  # Stripe retries deliveries: a replay changes nothing
    assert again.json()["outcome"] == "duplicate"
    assert order.events.filter(to_status=OrderStatus.PAID).count() == 1
    assert Mail.objects.filter(kind="order_paid").count() == 1  # one e-mail, queued with the transition


@pytest.mark.django_db
def test_declined_card_leaves_the_order_open_and_another_card_pays(stripe_settings):
    order, _ = card_order()
    declined = pay(stripe_settings, order, number=DECLINED_AT_CHARGE)
    assert declined.status == "declined"
    assert "declined" in declined.message
    order.refresh_from_db()
    assert order.status == OrderStatus.AWAITING_PAYMENT
    good = pay(stripe_settings, order)
    assert good.status == "succeeded"
    assert order.events.filter(note="A card payment was declined").count() == 1


@pytest.mark.django_db
def test_3d_secure_card_asks_for_authentication_then_succeeds(stripe_settings):
    order, _ = card_order()
    result = pay(stripe_settings, order, number=NEEDS_3DS)
    assert result.status == "requires_action"
    assert result.client_secret.startswith("pi_")
    intent = authenticate_payment(stripe_settings, client_secret=result.client_secret)
    assert intent["status"] == "succeeded"
    response = post_event(localstripe_event(stripe_settings, intent["id"]))
    assert response.json()["outcome"] == "paid"


@pytest.mark.django_db
def test_same_card_retried_gives_the_same_payment_intent(stripe_settings):
    """The idempotency key is derived from the order and the card, and the Payment row is unique per intent."""
    order, _ = card_order()
    pm = card_setup(stripe_settings, setup_secret=payment_setup_start(order=order))
    first = payment_charge(order=order, payment_method_id=pm)
    intent_id = Payment.objects.get(order=order).intent_id
    # The browser retries (a double click, a timeout) before the webhook has made the order paid.
    second = payment_charge(order=order, payment_method_id=pm)
    assert (first.status, second.status) == ("succeeded", "succeeded")
    assert list(Payment.objects.filter(order=order).values_list("intent_id", flat=True)) == [intent_id]
    listed = requests.get(
        f"{stripe_settings.url}/v1/payment_intents", params={"limit": 100}, auth=(SECRET_KEY, ""), timeout=10
    ).json()["data"]
    assert [pi["id"] for pi in listed if pi["metadata"].get("order_number") == order.number] == [intent_id]


@pytest.mark.django_db
def test_bad_signature_is_400_and_changes_nothing(stripe_settings, caplog):
    order, _ = card_order()
    result = pay(stripe_settings, order)
    intent = Payment.objects.get(order=order).intent_id
    event = localstripe_event(stripe_settings, intent)
    assert result.status == "succeeded"
    forged_body, forged_sig = signed(event, secret="whsec_someone_else")
    client = Client()
    url = reverse("payments:stripe-webhook")
    with caplog.at_level(logging.WARNING, logger="shop.security"):
        responses = [
            client.post(url, forged_body, content_type="application/json", HTTP_STRIPE_SIGNATURE=forged_sig),
            client.post(url, forged_body, content_type="application/json"),
            client.post(url, b"not json", content_type="application/json", HTTP_STRIPE_SIGNATURE=forged_sig),
        ]
    assert [r.status_code for r in responses] == [400, 400, 400]
    assert "stripe_webhook_bad_signature" in caplog.text
    order.refresh_from_db()
    assert order.status == OrderStatus.AWAITING_PAYMENT
    assert not StripeEvent.objects.exists()


@pytest.mark.django_db
def test_amount_mismatch_is_a_security_event_and_the_order_stays_unpaid(stripe_settings, caplog):
    order, _ = card_order()
    intent = {"id": "pi_forged", "object": "payment_intent", "amount": 100, "currency": "gbp", "status": "succeeded"}
    intent["metadata"] = {"order_number": order.number}
    with caplog.at_level(logging.WARNING, logger="shop.security"):
        response = post_event(intent_event(intent))
    assert response.json()["outcome"] == "amount_mismatch"
    assert "payment_amount_mismatch" in caplog.text
    order.refresh_from_db()
    assert order.status == OrderStatus.AWAITING_PAYMENT
    wrong_currency = {
        **intent,
        "id": "pi_forged_eur",
        "amount": gateway.to_minor(order.total, "GBP"),
        "currency": "eur",
    }
    assert post_event(intent_event(wrong_currency)).json()["outcome"] == "amount_mismatch"
    order.refresh_from_db()
    assert order.status == OrderStatus.AWAITING_PAYMENT
    assert not Payment.objects.exists()  # nothing recorded for a payment we refuse


@pytest.mark.django_db
def test_unknown_order_changes_nothing(stripe_settings):
    intent = {"id": "pi_nobody", "amount": 500, "currency": "gbp", "status": "succeeded"}
    intent["metadata"] = {"order_number": "MA-00000000"}
    assert post_event(intent_event(intent)).json()["outcome"] == "unknown_order"
    assert not Payment.objects.exists()


@pytest.mark.django_db
def test_events_out_of_order_a_late_failure_never_undoes_a_success(stripe_settings):
    order, _ = card_order()
    pay(stripe_settings, order)
    payment = Payment.objects.get(order=order)
    succeeded = localstripe_event(stripe_settings, payment.intent_id)
    failed = intent_event(
        {**succeeded["data"]["object"], "status": "requires_payment_method"}, type="payment_intent.payment_failed"
    )
    assert post_event(succeeded).json()["outcome"] == "paid"
    assert post_event(failed).json()["outcome"] == "failed_recorded"
    payment.refresh_from_db()
    order.refresh_from_db()
    assert (payment.status, order.status) == ("succeeded", OrderStatus.PAID)


@pytest.mark.django_db(transaction=True)
def test_the_same_event_ten_times_at_once_is_one_transition_and_one_email(stripe_settings):
    order, _ = card_order()
    pay(stripe_settings, order)
    event = localstripe_event(stripe_settings, Payment.objects.get(order=order).intent_id)
    outcomes = run_together([lambda: post_event(event).json()["outcome"]] * 10, join_timeout=60)
    assert sorted(outcomes) == ["duplicate"] * 9 + ["paid"]
    assert Order.objects.get(pk=order.pk).status == OrderStatus.PAID
    assert order.events.filter(to_status=OrderStatus.PAID).count() == 1
    assert StripeEvent.objects.count() == 1
    assert Mail.objects.filter(kind="order_paid").count() == 1  # one e-mail, queued with the transition
