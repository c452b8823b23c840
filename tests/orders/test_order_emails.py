"""Order updates: each status the shopper cares about queues one e-mail (text and HTML) through
order_transition, whatever the path; the order page tells the same history with the tracking link."""

from decimal import Decimal

import pytest
from django.core import mail
from django.db import transaction
from django.urls import reverse

from mailqueue.models import Mail
from orders.carriers import carrier_tracking_url
from orders.guest_links import order_guest_token
from orders.models import OrderStatus
from orders.services import OrderError, OrderTransitionError
from orders.workflow import order_refund_record, order_transition
from tests.factories import StaffUserFactory, UserFactory
from tests.mail.worker import mail_worker_run
from tests.orders.conftest import cart_with, place

pytestmark = pytest.mark.django_db


def mails(kind: str) -> list[Mail]:
    return list(Mail.objects.filter(kind=kind))


def only(kind: str) -> Mail:
    (found,) = mails(kind)
    return found


@pytest.fixture
def staff():
    return StaffUserFactory()


@pytest.fixture
def order(ring):
    return place(cart_with((ring, 1)), email="ada@example.com")


@pytest.fixture
def collect_order(ring):
    return place(cart_with((ring, 1)), shipping_method="collect", payment_method="on_collection")


def test_paid_email_text_and_html(order, staff):
    order_transition(order=order, to_status=OrderStatus.PAID, actor=staff, note="BACS 991")
    paid = only("order_paid")
    assert paid.to == "ada@example.com"
    assert order.number in paid.subject
    assert "payment received" in paid.subject
    for body in (paid.text_body, paid.html_body):
        assert "£120" in body
        assert "Aurora Ring" in body
        assert "tracking number" in body  # promises the next e-mail
        assert "BACS 991" not in body  # staff notes stay internal
    assert order_guest_token(order=order).split(":")[0] in paid.text_body
    assert 'class="brand"' in paid.html_body  # the shop's layout


def test_shipped_email_and_order_page_link_to_the_carriers_tracking(client, ring, staff):
    shopper = UserFactory()
    order = place(cart_with((ring, 1)), user=shopper)
    order_transition(order=order, to_status=OrderStatus.PAID, actor=staff)
    order_transition(
        order=order, to_status=OrderStatus.SHIPPED, actor=staff, carrier="royal_mail", tracking_number="AB123456789GB"
    )
    url = "https://www.royalmail.com/track-your-item#/tracking-results/AB123456789GB"
    shipped = only("order_shipped")
    assert "on its way" in shipped.subject
    for body in (shipped.text_body, shipped.html_body):
        assert "Royal Mail" in body
        assert "AB123456789GB" in body
        assert url in body
        assert "12 St James" in body  # where it goes
    client.force_login(shopper)
    page = client.get(reverse("orders:order-detail", args=[order.number])).content.decode()
    assert f'href="{url}"' in page
    assert "On its way with Royal Mail, tracking number AB123456789GB" in page
    assert "Payment received" in page


def test_tracking_urls_quote_the_number_and_unknown_carriers_have_none():
    assert carrier_tracking_url(carrier="dpd", tracking_number="15 50/../x?y") == (
        "https://track.dpd.co.uk/parcels/15%2050%2F..%2Fx%3Fy"
    )
    assert carrier_tracking_url(carrier="pigeon", tracking_number="1234") == ""
    assert carrier_tracking_url(carrier="ups", tracking_number="") == ""


@pytest.mark.parametrize(
    ("carrier", "number"),
    [("pigeon", "AB1234"), ("dhl", ""), ("", "AB1234"), ("dhl", "<script>x</script>"), ("dhl", "AB\n1234")],
)
def test_bad_shipment_details_are_refused_and_change_nothing(order, staff, carrier, number):
    order_transition(order=order, to_status=OrderStatus.PAID, actor=staff)
    with pytest.raises(OrderTransitionError):
        order_transition(
            order=order, to_status=OrderStatus.SHIPPED, actor=staff, carrier=carrier, tracking_number=number
        )
    order.refresh_from_db()
    assert (order.status, order.carrier, order.tracking_number) == (OrderStatus.PAID, "", "")
    assert mails("order_shipped") == []


def test_shipped_without_tracking_says_so_plainly(order, staff):
    order_transition(order=order, to_status=OrderStatus.PAID, actor=staff)
    order_transition(order=order, to_status=OrderStatus.SHIPPED, actor=staff)
    shipped = only("order_shipped")
    assert "our carrier" in shipped.text_body
    assert "Tracking number" not in shipped.text_body


def test_ready_for_collection_email_for_pay_on_collection(collect_order, staff):
    order_transition(order=collect_order, to_status=OrderStatus.READY_FOR_COLLECTION, actor=staff)
    ready = only("order_ready")
    assert "ready for collection" in ready.subject
    for body in (ready.text_body, ready.html_body):
        assert "photo ID" in body
        assert "You pay £120 when you collect" in body
    order_transition(order=collect_order, to_status=OrderStatus.DELIVERED, actor=staff)
    assert Mail.objects.filter(reference=collect_order.number).count() == 2  # confirmation + ready; none for collected


def test_ready_for_collection_is_refused_for_delivery_or_unpaid_transfer(order, ring, staff):
    with pytest.raises(OrderTransitionError, match="delivered, not collected"):
        order_transition(order=order, to_status=OrderStatus.READY_FOR_COLLECTION, actor=staff)
    unpaid = place(cart_with((ring, 1)), shipping_method="collect", payment_method="bank_transfer")
    with pytest.raises(OrderTransitionError, match="must be paid"):
        order_transition(order=unpaid, to_status=OrderStatus.READY_FOR_COLLECTION, actor=staff)
    order_transition(order=unpaid, to_status=OrderStatus.PAID, actor=staff)
    with pytest.raises(OrderTransitionError, match="for collection"):
        order_transition(order=unpaid, to_status=OrderStatus.SHIPPED, actor=staff)
    assert mails("order_ready") == []


def test_cancelled_emails_say_why(order, ring, staff, client):
    order_transition(order=order, to_status=OrderStatus.CANCELLED, actor=staff, note="duplicate")
    by_shop = only("order_cancelled")
    assert "we have had to cancel" in by_shop.text_body
    assert "duplicate" not in by_shop.text_body

    late = place(cart_with((ring, 1)))
    order_transition(order=late, to_status=OrderStatus.CANCELLED, actor=None, reason="payment_timeout")
    (timeout,) = Mail.objects.filter(kind="order_cancelled", reference=late.number)
    for body in (timeout.text_body, timeout.html_body):
        assert "did not arrive in time" in body
    page = client.get(reverse("orders:guest-link"), {"t": order_guest_token(order=late)}, follow=True).content.decode()
    assert "Cancelled: payment not received in time" in page


def test_refund_is_recorded_in_the_history_and_emailed(order, staff, client):
    order_transition(order=order, to_status=OrderStatus.PAID, actor=staff)
    order_refund_record(order=order, amount=Decimal("50.00"), actor=staff, note="scratch")
    refunded = only("order_refunded")
    for body in (refunded.text_body, refunded.html_body):
        assert "£50" in body
        assert "5 to 10 working days" in body
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID  # a refund is not a status
    page = client.get(reverse("orders:guest-link"), {"t": order_guest_token(order=order)}, follow=True).content.decode()
    assert "Refunded £50" in page
    assert "scratch" not in page
    with pytest.raises(OrderError):
        order_refund_record(order=order, amount=Decimal("0.00"))


def test_a_transition_rolled_back_leaves_no_email(order, staff):
    def pay_then_fail() -> None:
        with transaction.atomic():
            order_transition(order=order, to_status=OrderStatus.PAID, actor=staff)
            raise RuntimeError("later step failed")

    with pytest.raises(RuntimeError):
        pay_then_fail()
    assert mails("order_paid") == []


def test_admin_ship_button_takes_the_typed_tracking_and_the_email_goes_out(client, order, staff):
    order_transition(order=order, to_status=OrderStatus.PAID, actor=staff)
    client.force_login(staff)
    response = client.post(
        reverse("admin:orders_order_transition", args=[order.pk]),
        {"to_status": "shipped", "carrier": "dhl", "tracking_number": "1234567890"},
    )
    assert response.status_code == 302
    order.refresh_from_db()
    assert (order.status, order.carrier, order.tracking_number) == ("shipped", "dhl", "1234567890")
    shipped = only("order_shipped")  # the e-mail the button sends, with the number staff typed
    assert shipped.to == order.email
    assert "1234567890" in shipped.text_body
    assert "1234567890" in shipped.html_body
    change = client.get(reverse("admin:orders_order_change", args=[order.pk])).content.decode()
    assert 'name="tracking_number"' in change  # editable, to correct a typo
    assert 'value="ready_for_collection"' not in change


def test_the_worker_delivers_order_updates_with_both_parts(order, staff, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        order_transition(order=order, to_status=OrderStatus.PAID, actor=staff)
        order_transition(
            order=order, to_status=OrderStatus.SHIPPED, actor=staff, carrier="ups", tracking_number="1Z999"
        )
    mail_worker_run()
    subjects = sorted(message.subject for message in mail.outbox)
    assert len(subjects) == 2
    assert all(order.number in subject for subject in subjects)
    assert all(message.alternatives[0][1] == "text/html" for message in mail.outbox)
