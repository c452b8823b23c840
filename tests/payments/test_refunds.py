"""Staff refunds from the admin (full, partial, never above what is left, one per form) and Stripe-side refunds."""

import time
from decimal import Decimal

import pytest
import requests
from django.urls import reverse

from catalog.models import ProductVariant
from mailqueue.models import Mail
from orders.models import OrderStatus
from payments import gateway
from payments.models import Payment, Refund, RefundSource, RefundStatus
from payments.refunds import RefundError, payment_refund
from payments.services import payment_charge, payment_setup_start
from tests.factories import StaffUserFactory, UserFactory
from tests.payments.fixtures import SECRET_KEY
from tests.payments.helpers import card_order, card_setup, intent_event, post_event


@pytest.fixture
def paid(stripe_settings, django_capture_on_commit_callbacks):
    """A card order paid through localstripe and confirmed by its signed webhook; returns (payment, variant)."""
    order, variant = card_order(stock=1, price=Decimal("95.00"))  # £100.00 with delivery
    pm = card_setup(stripe_settings, setup_secret=payment_setup_start(order=order))
    payment_charge(order=order, payment_method_id=pm)
    payment = Payment.objects.get(order=order)
    intent = {"id": payment.intent_id, "amount": 10000, "currency": "gbp", "status": "succeeded", "metadata": {}}
    with django_capture_on_commit_callbacks(execute=True):
        assert post_event(intent_event(intent)).json()["outcome"] == "paid"
    payment.refresh_from_db()
    return payment, variant


def stripe_refunded(localstripe, intent_id: str) -> int:
    """What localstripe says was refunded on the intent's charge (in minor units)."""
    auth = (SECRET_KEY, "")
    intent = requests.get(f"{localstripe.url}/v1/payment_intents/{intent_id}", auth=auth, timeout=10).json()
    charge = intent["latest_charge"]
    if isinstance(charge, str):
        charge = requests.get(f"{localstripe.url}/v1/charges/{charge}", auth=auth, timeout=10).json()
    return charge["amount_refunded"]


@pytest.mark.django_db
def test_partial_then_the_rest_never_more_than_paid(paid, stripe_settings):
    payment, _ = paid
    staff = StaffUserFactory()
    first = payment_refund(payment=payment, amount=Decimal("30.00"), actor=staff, restock=False, idempotency_key="k1")
    assert (first.status, first.amount) == (RefundStatus.SUCCEEDED, Decimal("30.00"))
    with pytest.raises(RefundError, match=r"At most £70\.00"):
        payment_refund(payment=payment, amount=Decimal("70.01"), actor=staff, restock=False, idempotency_key="k2")
    with pytest.raises(RefundError):
        payment_refund(payment=payment, amount=Decimal("0"), actor=staff, restock=False, idempotency_key="k3")
    payment_refund(payment=payment, amount=Decimal("70.00"), actor=staff, restock=False, idempotency_key="k4")
    with pytest.raises(RefundError, match=r"At most £0\.00"):
        payment_refund(payment=payment, amount=Decimal("0.01"), actor=staff, restock=False, idempotency_key="k5")
    assert stripe_refunded(stripe_settings, payment.intent_id) == 10000
    notes = list(payment.order.events.values_list("note", flat=True))
    assert "Refunded £30.00 by card" in notes
    assert "Refunded £70.00 by card" in notes


@pytest.mark.django_db
def test_the_same_form_submitted_twice_refunds_once(paid, stripe_settings):
    payment, _ = paid
    staff = StaffUserFactory()
    for _ in range(2):
        payment_refund(payment=payment, amount=Decimal("10.00"), actor=staff, restock=False, idempotency_key="same")
    assert Refund.objects.count() == 1
    assert stripe_refunded(stripe_settings, payment.intent_id) == 1000


@pytest.mark.django_db
def test_full_refund_with_restock_cancels_and_puts_the_piece_back_once(paid):
    payment, variant = paid
    assert ProductVariant.objects.get(pk=variant.pk).stock == 0
    with pytest.raises(RefundError, match="full refund"):
        payment_refund(payment=payment, amount=Decimal("50.00"), actor=None, restock=True, idempotency_key="p")
    refund = payment_refund(payment=payment, amount=Decimal("100.00"), actor=None, restock=True, idempotency_key="f")
    assert refund.restock is True
    payment.order.refresh_from_db()
    assert payment.order.status == OrderStatus.CANCELLED
    assert ProductVariant.objects.get(pk=variant.pk).stock == 1
    assert payment.order.events.filter(note__contains="pieces back on sale").count() == 1


@pytest.mark.django_db
def test_unpaid_payment_cannot_be_refunded(stripe_settings):
    order, _ = card_order()
    pm = card_setup(stripe_settings, setup_secret=payment_setup_start(order=order))
    payment_charge(order=order, payment_method_id=pm)  # Stripe says succeeded, but no webhook yet
    with pytest.raises(RefundError, match=r"At most £0\.00"):
        payment_refund(
            payment=Payment.objects.get(order=order),
            amount=Decimal("1"),
            actor=None,
            restock=False,
            idempotency_key="x",
        )


@pytest.mark.django_db
def test_charge_refunded_webhook_records_a_dashboard_refund_once(paid, stripe_settings):
    """localstripe sends no charge.refunded: the refund is made in localstripe, the event built and signed here."""
    payment, _ = paid
    gateway.refund_create(intent_id=payment.intent_id, amount_minor=2500, idempotency_key="dashboard")
    charge = {
        "id": "ch_dashboard",
        "object": "charge",
        "payment_intent": payment.intent_id,
        "amount": 10000,
        "amount_refunded": stripe_refunded(stripe_settings, payment.intent_id),
        "currency": "gbp",
        "refunded": False,
    }
    event = {"id": "evt_refund_1", "type": "charge.refunded", "created": int(time.time()), "data": {"object": charge}}
    assert post_event(event).json()["outcome"] == "refund_recorded"
    assert post_event({**event, "id": "evt_refund_again"}).json()["outcome"] == "refund_already_recorded"
    refund = Refund.objects.get()
    assert (refund.amount, refund.source) == (Decimal("25.00"), RefundSource.STRIPE)
    assert payment.order.events.filter(note="Refunded in Stripe's dashboard", amount=Decimal("25.00")).count() == 1
    assert Mail.objects.filter(kind="order_refunded", reference=payment.order.number).count() == 1


@pytest.mark.django_db
def test_admin_refund_page(paid, client, stripe_settings):
    payment, _ = paid
    url = reverse("admin:payments_payment_refund", args=[payment.pk])
    client.force_login(UserFactory(is_staff=True))  # staff without the refund permission
    assert client.get(url).status_code == 403
    client.force_login(StaffUserFactory())
    page = client.get(url)
    assert page.status_code == 200
    key = page.context["form"]["idempotency_key"].value()
    too_much = client.post(url, {"amount": "100.01", "idempotency_key": key})
    assert too_much.status_code == 400
    assert "At most £100.00" in too_much.content.decode()
    done = client.post(url, {"amount": "40.00", "idempotency_key": key})
    assert done.status_code == 302
    again = client.post(url, {"amount": "40.00", "idempotency_key": key})  # a double click
    assert again.status_code == 302
    assert Refund.objects.get().amount == Decimal("40.00")
    assert stripe_refunded(stripe_settings, payment.intent_id) == 4000
    listing = client.get(reverse("admin:payments_payment_changelist"))
    assert "Refund…" in listing.content.decode()
