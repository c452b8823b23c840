"""One payment lifecycle (issue #20): expiry asks Stripe before cancelling a card order, staff cancel ends
the intents and refunds what was captured, "record payment" is refused for a card order, a late payment
reinstates only an order that timed out, and our own webhook failures answer 500 so that Stripe retries.

Everything runs against localstripe over HTTP; "Stripe unreachable" is a loopback port nobody listens on.
"""

import logging
from datetime import timedelta
from decimal import Decimal

import pytest
import requests
from django.urls import reverse
from django.utils import timezone

from catalog.models import ProductVariant
from loopback import free_port
from mailqueue.models import Mail
from orders.models import EventReason, Order, OrderStatus
from orders.services import OrderError, OrderTransitionError
from orders.workflow import order_payment_record, order_staff_cancel, order_transition
from payments import gateway
from payments.expiry import orders_expire_overdue
from payments.models import Payment, Refund, RefundStatus, StripeEvent
from payments.services import payment_charge, payment_setup_start
from tests.factories import ProductVariantFactory, StaffUserFactory
from tests.orders.conftest import cart_with, place
from tests.payments.fixtures import SECRET_KEY
from tests.payments.helpers import NEEDS_3DS, card_order, card_setup, intent_event, post_event

pytestmark = pytest.mark.django_db


def stock(variant) -> int:
    return ProductVariant.objects.get(pk=variant.pk).stock


def overdue(order: Order, *, minutes: int = 1) -> None:
    Order.objects.filter(pk=order.pk).update(payment_deadline=timezone.now() - timedelta(minutes=minutes))


def stripe_intent(localstripe, intent_id: str) -> dict:
    return requests.get(f"{localstripe.url}/v1/payment_intents/{intent_id}", auth=(SECRET_KEY, ""), timeout=10).json()


def stripe_refunded(localstripe, intent_id: str) -> int:
    charge = stripe_intent(localstripe, intent_id)["latest_charge"]
    if isinstance(charge, str):
        charge = requests.get(f"{localstripe.url}/v1/charges/{charge}", auth=(SECRET_KEY, ""), timeout=10).json()
    return charge["amount_refunded"]


def succeeded_event(order: Order, intent_id: str, **changes) -> dict:
    intent = {
        "id": intent_id,
        "object": "payment_intent",
        "amount": gateway.to_minor(order.total, "GBP"),
        "currency": "gbp",
        "status": "succeeded",
        "metadata": {"order_number": order.number},
        **changes,
    }
    return intent_event(intent)


def charged(localstripe, order: Order, number: str = "4242424242424242") -> str:
    """Charge the order through the shop as the payment page does; the webhook is not delivered (late)."""
    pm = card_setup(localstripe, setup_secret=payment_setup_start(order=order), number=number)
    payment_charge(order=order, payment_method_id=pm)
    return Payment.objects.get(order=order).intent_id


def stripe_down(settings) -> None:
    settings.STRIPE_API_BASE = f"http://127.0.0.1:{free_port()}"  # nothing listens: connection refused


def cancel_mail(order: Order) -> str:
    (mail,) = Mail.objects.filter(kind="order_cancelled", reference=order.number)
    return mail.text_body


# --- 1. Expiry never cancels a payment Stripe took ----------------------------------------------


def test_expiry_leaves_a_card_order_whose_payment_succeeded_to_the_late_webhook(
    stripe_settings, django_capture_on_commit_callbacks, caplog
):
    order, variant = card_order(stock=1)
    intent_id = charged(stripe_settings, order)  # paid at minute 29; the webhook is delayed
    overdue(order)
    with caplog.at_level(logging.INFO, logger="shop.payments"):
        assert orders_expire_overdue() == []
    order.refresh_from_db()
    assert order.status == OrderStatus.AWAITING_PAYMENT
    assert stock(variant) == 0  # the piece stays the payer's, not back on sale
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]  # not late enough to alarm yet
    with django_capture_on_commit_callbacks(execute=True):
        assert post_event(succeeded_event(order, intent_id)).json()["outcome"] == "paid"
    assert Order.objects.get(pk=order.pk).status == OrderStatus.PAID
    assert not Refund.objects.exists()


def test_a_payment_unconfirmed_long_after_the_deadline_raises_the_alarm(stripe_settings, settings, caplog):
    settings.SHOP_PAYMENT_UNCONFIRMED_ALARM_MINUTES = 60
    order, _ = card_order()
    charged(stripe_settings, order)
    overdue(order, minutes=61)
    with caplog.at_level(logging.INFO, logger="shop.payments"):
        assert orders_expire_overdue() == []
    (alarm,) = [r for r in caplog.records if getattr(r, "event", "") == "payment_unconfirmed"]
    assert alarm.levelno == logging.ERROR
    assert alarm.order_number == order.number
    assert Order.objects.get(pk=order.pk).status == OrderStatus.AWAITING_PAYMENT


def test_stripe_unreachable_defers_card_orders_with_an_intent_but_not_bank_transfers(
    stripe_settings, settings, django_capture_on_commit_callbacks
):
    card, card_variant = card_order(stock=1)
    pm = card_setup(stripe_settings, setup_secret=payment_setup_start(order=card), number=NEEDS_3DS)
    assert payment_charge(order=card, payment_method_id=pm).status == "requires_action"
    transfer = place(cart_with((ProductVariantFactory(stock=1), 1)), email="bob@example.com")
    overdue(card)
    overdue(transfer)
    stripe_down(settings)
    with django_capture_on_commit_callbacks(execute=True):
        assert orders_expire_overdue() == [transfer.number]
    assert Order.objects.get(pk=card.pk).status == OrderStatus.AWAITING_PAYMENT
    assert stock(card_variant) == 0
    settings.STRIPE_API_BASE = stripe_settings.url  # Stripe is back: the next run expires it
    with django_capture_on_commit_callbacks(execute=True):
        assert orders_expire_overdue() == [card.number]


def test_the_expired_orders_email_says_the_payment_did_not_arrive_in_time(
    stripe_settings, django_capture_on_commit_callbacks
):
    order, _ = card_order()
    overdue(order)
    with django_capture_on_commit_callbacks(execute=True):
        assert orders_expire_overdue() == [order.number]
    text = cancel_mail(order)
    assert "did not arrive in time" in text
    assert "full amount comes back" not in text
    assert order.events.get(to_status=OrderStatus.CANCELLED).reason == EventReason.PAYMENT_TIMEOUT


# --- 2. Staff cancel: intents end, captured money goes back, the e-mail says which --------------


def test_staff_cancel_from_the_admin_ends_an_open_intent_and_says_nothing_was_charged(
    stripe_settings, client, django_capture_on_commit_callbacks
):
    order, variant = card_order(stock=1)
    pm = card_setup(stripe_settings, setup_secret=payment_setup_start(order=order), number=NEEDS_3DS)
    assert payment_charge(order=order, payment_method_id=pm).status == "requires_action"  # 3-D Secure half-way
    intent_id = Payment.objects.get(order=order).intent_id
    client.force_login(StaffUserFactory())
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("admin:orders_order_transition", args=[order.pk]), {"to_status": "cancelled", "confirmed": "1"}
        )
    assert Order.objects.get(pk=order.pk).status == OrderStatus.CANCELLED
    assert stock(variant) == 1
    # Finishing 3-D Secure now cannot take money: the intent is cancelled at Stripe.
    assert stripe_intent(stripe_settings, intent_id)["status"] == "canceled"
    text = cancel_mail(order)
    assert "Nothing was charged to your card" in text
    assert "full amount comes back" not in text


@pytest.fixture
def paid_order(stripe_settings, django_capture_on_commit_callbacks):
    order, variant = card_order(stock=1, price=Decimal("95.00"))  # £100.00 with delivery
    intent_id = charged(stripe_settings, order)
    with django_capture_on_commit_callbacks(execute=True):
        assert post_event(succeeded_event(order, intent_id)).json()["outcome"] == "paid"
    return Order.objects.get(pk=order.pk), variant, intent_id


def test_staff_cancel_of_a_paid_card_order_refunds_it_at_stripe_and_says_how_much(
    paid_order, stripe_settings, client, django_capture_on_commit_callbacks
):
    order, variant, intent_id = paid_order
    client.force_login(StaffUserFactory())
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("admin:orders_order_transition", args=[order.pk]), {"to_status": "cancelled", "confirmed": "1"}
        )
    assert Order.objects.get(pk=order.pk).status == OrderStatus.CANCELLED
    assert stripe_refunded(stripe_settings, intent_id) == 10000
    refund = Refund.objects.get()
    assert (refund.status, refund.amount) == (RefundStatus.SUCCEEDED, Decimal("100.00"))
    assert "£100.00 has been refunded to your card" in cancel_mail(order)
    # One e-mail tells it all: no separate "refund" e-mail for the same money.
    assert not Mail.objects.filter(kind="order_refunded", reference=order.number).exists()
    assert stock(variant) == 1


def test_staff_cancel_when_stripe_took_the_payment_but_the_webhook_is_late_refunds_and_stays_cancelled(
    stripe_settings, django_capture_on_commit_callbacks
):
    order, variant = card_order(stock=1)
    intent_id = charged(stripe_settings, order)  # succeeded at Stripe; we have not heard yet
    with django_capture_on_commit_callbacks(execute=True):
        order_staff_cancel(order=order, actor=StaffUserFactory(), note="customer rang")
    assert stripe_refunded(stripe_settings, intent_id) == gateway.to_minor(order.total, "GBP")
    with django_capture_on_commit_callbacks(execute=True):
        outcome = post_event(succeeded_event(order, intent_id)).json()["outcome"]
    assert outcome == "already_recorded"
    assert Order.objects.get(pk=order.pk).status == OrderStatus.CANCELLED
    assert stock(variant) == 1
    assert not Mail.objects.filter(kind="order_paid", reference=order.number).exists()


def test_a_payment_finishing_after_a_staff_cancel_is_refunded_never_reinstated(
    stripe_settings, django_capture_on_commit_callbacks
):
    order, variant = card_order(stock=1)
    with django_capture_on_commit_callbacks(execute=True):
        order_staff_cancel(order=order, actor=StaffUserFactory())
    # An intent the shop never recorded (the charge view's own write was lost) is paid afterwards.
    _, secret = gateway.setup_intent_create(order_number=order.number)
    pm = card_setup(stripe_settings, setup_secret=secret)
    intent = gateway.payment_intent_create(
        order_number=order.number,
        amount_minor=gateway.to_minor(order.total, "GBP"),
        currency="GBP",
        payment_method=pm,
        idempotency_key=f"late-{order.number}",
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert post_event(succeeded_event(order, intent.id)).json()["outcome"] == "paid_late_refunded"
    assert Order.objects.get(pk=order.pk).status == OrderStatus.CANCELLED
    assert stock(variant) == 1  # the piece stayed on sale
    assert stripe_refunded(stripe_settings, intent.id) == intent.amount_minor
    assert Refund.objects.get().status == RefundStatus.SUCCEEDED
    assert Mail.objects.filter(kind="order_refunded", reference=order.number).count() == 1


def test_the_admin_asks_before_cancelling_a_card_order(stripe_settings, client, django_assert_max_num_queries):
    order, _ = card_order()
    client.force_login(StaffUserFactory())
    url = reverse("admin:orders_order_transition", args=[order.pk])
    with django_assert_max_num_queries(12):
        page = client.post(url, {"to_status": "cancelled", "transition_note": "rang to cancel"})
    assert page.status_code == 200
    html = page.content.decode()
    assert "refunds to the card whatever was paid" in html
    assert 'name="confirmed" value="1"' in html
    assert 'value="rang to cancel"' in html
    assert Order.objects.get(pk=order.pk).status == OrderStatus.AWAITING_PAYMENT


def test_staff_cancel_with_stripe_unreachable_changes_nothing_and_says_try_again(stripe_settings, settings, client):
    order, variant = card_order(stock=1)
    pm = card_setup(stripe_settings, setup_secret=payment_setup_start(order=order), number=NEEDS_3DS)
    payment_charge(order=order, payment_method_id=pm)
    stripe_down(settings)
    with pytest.raises(OrderError, match="Stripe did not answer; nothing was changed"):
        order_staff_cancel(order=order, actor=None)
    client.force_login(StaffUserFactory())
    url = reverse("admin:orders_order_transition", args=[order.pk])
    page = client.post(url, {"to_status": "cancelled", "confirmed": "1"}, follow=True)
    assert "Stripe did not answer; nothing was changed" in page.content.decode()
    assert Order.objects.get(pk=order.pk).status == OrderStatus.AWAITING_PAYMENT
    assert stock(variant) == 0
    assert not Mail.objects.filter(kind="order_cancelled").exists()


def test_a_bank_transfer_staff_cancel_needs_no_stripe(db, settings):
    settings.STRIPE_API_BASE = f"http://127.0.0.1:{free_port()}"
    order = place(cart_with((ProductVariantFactory(stock=1), 1)), email="bob@example.com")
    order_staff_cancel(order=order, actor=None)
    assert Order.objects.get(pk=order.pk).status == OrderStatus.CANCELLED
    assert "There is nothing to pay" in cancel_mail(order)


# --- 3. "Record payment" is refused for a card order --------------------------------------------


def test_record_payment_is_refused_for_a_card_order_with_an_intent(stripe_settings, client):
    order, _ = card_order()
    charged(stripe_settings, order)
    with pytest.raises(OrderError, match="card payment"):
        order_payment_record(order=order, actor=None)
    client.force_login(StaffUserFactory())
    assert "Record payment" not in client.get(reverse("admin:orders_order_change", args=[order.pk])).content.decode()
    page = client.post(reverse("admin:orders_order_transition", args=[order.pk]), {"to_status": "paid"}, follow=True)
    assert "marked paid when Stripe confirms" in page.content.decode()
    bulk = client.post(
        reverse("admin:orders_order_changelist"),
        {"action": "mark_paid", "_selected_action": [order.pk]},
        follow=True,
    )
    assert "marked paid when Stripe confirms" in bulk.content.decode()
    assert Order.objects.get(pk=order.pk).status == OrderStatus.AWAITING_PAYMENT


def test_record_payment_is_refused_for_a_card_order_before_its_charge_reaches_stripe(stripe_settings):
    order, _ = card_order()  # the shopper is on the payment page; the charge may be in flight
    with pytest.raises(OrderError, match="card payment"):
        order_payment_record(order=order, actor=StaffUserFactory())
    assert Order.objects.get(pk=order.pk).status == OrderStatus.AWAITING_PAYMENT


def test_record_payment_still_works_for_a_bank_transfer(db):
    order = place(cart_with((ProductVariantFactory(stock=1), 1)), email="bob@example.com")
    order_payment_record(order=order, actor=StaffUserFactory(), note="transfer arrived")
    assert Order.objects.get(pk=order.pk).status == OrderStatus.PAID


# --- 4. Reinstating is a guarded edge of order_transition ---------------------------------------


def test_a_late_payment_reinstates_only_a_timed_out_order_with_its_stock(stripe_settings):
    timed_out, _ = card_order(stock=1)
    order_transition(order=timed_out, to_status=OrderStatus.CANCELLED, actor=None, reason=EventReason.PAYMENT_TIMEOUT)
    staff_cancelled, _ = card_order(stock=1, email="eve@example.com")
    order_transition(order=staff_cancelled, to_status=OrderStatus.CANCELLED, actor=None, reason=EventReason.SHOP)
    with pytest.raises(OrderTransitionError, match="cancelled is final"):
        order_transition(order=staff_cancelled, to_status=OrderStatus.PAID, actor=None)
    with pytest.raises(OrderTransitionError):  # no person reinstates, staff included
        order_transition(order=timed_out, to_status=OrderStatus.PAID, actor=StaffUserFactory())
    order_transition(order=timed_out, to_status=OrderStatus.PAID, actor=None, note="late card payment")
    assert Order.objects.get(pk=timed_out.pk).status == OrderStatus.PAID


def test_no_admin_button_offers_to_reinstate(stripe_settings, client):
    order, _ = card_order()
    order_transition(order=order, to_status=OrderStatus.CANCELLED, actor=None, reason=EventReason.PAYMENT_TIMEOUT)
    client.force_login(StaffUserFactory())
    page = client.get(reverse("admin:orders_order_change", args=[order.pk])).content.decode()
    assert "No further changes (final status)." in page
    client.post(reverse("admin:orders_order_transition", args=[order.pk]), {"to_status": "paid"})
    assert Order.objects.get(pk=order.pk).status == OrderStatus.CANCELLED


# --- 5. Our own handler errors answer 500 (Stripe retries) --------------------------------------


def test_our_handler_failing_answers_500_keeps_nothing_and_the_retry_is_handled(
    stripe_settings, caplog, django_capture_on_commit_callbacks
):
    order, _ = card_order()
    intent_id = charged(stripe_settings, order)
    # Signed by Stripe, but an amount our handler cannot read (int() refuses "120.00"): our bug, not Stripe's.
    broken = succeeded_event(order, intent_id, amount=str(order.total))
    with caplog.at_level(logging.INFO):
        answer = post_event(broken)
    assert answer.status_code == 500
    (alarm,) = [r for r in caplog.records if getattr(r, "event", "") == "stripe_webhook_handler_error"]
    assert alarm.levelno == logging.ERROR
    assert not StripeEvent.objects.exists()  # not recorded as seen: Stripe's retry is acted on
    assert Order.objects.get(pk=order.pk).status == OrderStatus.AWAITING_PAYMENT
    # Stripe retries the same event id; this time the handler reads it (as after a fix is deployed).
    fixed = succeeded_event(order, intent_id)
    fixed["id"] = broken["id"]
    with django_capture_on_commit_callbacks(execute=True):
        again = post_event(fixed)
    assert (again.status_code, again.json()["outcome"]) == (200, "paid")
    assert Order.objects.get(pk=order.pk).status == OrderStatus.PAID


@pytest.mark.parametrize(
    "event",
    [
        {"type": "payment_intent.succeeded", "data": {"object": {}}},
        {"id": "evt_1", "data": {"object": {}}},
        {"id": "evt_1", "type": "payment_intent.succeeded", "data": {}},
        {"id": "evt_1", "type": "payment_intent.succeeded", "data": {"object": "pi_1"}},
    ],
)
def test_a_signed_event_without_id_type_or_object_is_refused_before_any_handler(stripe_settings, event):
    assert post_event(event).status_code == 400
    assert not StripeEvent.objects.exists()


def test_a_full_refund_that_restocks_tells_the_shopper_the_money_went_back(
    paid_order, django_capture_on_commit_callbacks
):
    from payments.refunds import payment_refund

    order, _, _ = paid_order
    with django_capture_on_commit_callbacks(execute=True):
        payment_refund(
            payment=order.payments.get(), amount=order.total, actor=None, restock=True, idempotency_key="restock"
        )
    text = cancel_mail(order)
    assert "£100.00 has been refunded to your card" in text
    assert "Nothing was charged" not in text
