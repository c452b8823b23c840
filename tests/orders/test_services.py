"""Order placement and workflow rules, on Postgres."""

import uuid
from decimal import Decimal

import pytest
from django.core import mail
from django.db import IntegrityError, transaction
from django_tasks_db.models import DBTaskResult

from catalog.models import ProductVariant
from mailqueue.models import Mail, MailStatus
from orders import services
from orders.guest_links import order_from_guest_token, order_guest_token
from orders.models import Order, OrderEvent, OrderLine, OrderStatus
from orders.payment_instructions import payment_instructions
from orders.services import (
    CartEmptyError,
    OrderTransitionError,
    OutOfStockError,
    PriceChangedError,
    payment_start,
    shipping_cost,
)
from orders.workflow import order_transition
from tests.factories import StaffUserFactory, UserFactory
from tests.mail.worker import mail_worker_run
from tests.orders.conftest import cart_with, place

pytestmark = pytest.mark.django_db


def stock(variant) -> int:
    return ProductVariant.objects.get(pk=variant.pk).stock


def test_place_creates_order_with_snapshot_lines_decrements_stock_and_clears_cart(ring, necklace):
    cart = cart_with((ring, 2, "A & B"), (necklace, 1))
    order = place(cart, gift_message="Happy anniversary ♥")

    assert order.number.startswith("MA-")
    assert len(order.number) == 11
    assert order.status == OrderStatus.AWAITING_PAYMENT
    assert order.subtotal == Decimal("540.00")
    assert order.engraving_total == Decimal("50.00")  # 2 engraved rings at £25
    assert order.shipping_cost == Decimal("0.00")  # over the £250 threshold
    assert order.total == Decimal("590.00")
    lines = {line.sku: line for line in order.lines.all()}
    assert lines["RING-Y-L"].product_name == "Aurora Ring"
    assert lines["RING-Y-L"].engraving == "A & B"
    assert lines["RING-Y-L"].engraving_fee == Decimal("25.00")
    assert lines["RING-Y-L"].line_total == Decimal("290.00")
    assert lines["RING-Y-L"].options_label == ring.options_label
    assert stock(ring) == 1
    assert stock(necklace) == 1
    assert not cart.lines.exists()
    assert list(order.events.values_list("from_status", "to_status")) == [("", OrderStatus.AWAITING_PAYMENT)]


def test_snapshot_survives_catalogue_changes(ring):
    order = place(cart_with((ring, 1)))
    ProductVariant.objects.filter(pk=ring.pk).update(price=Decimal("999.00"))
    ring.product.name = "Renamed"
    ring.product.save()
    line = order.lines.get()
    assert line.unit_price == Decimal("120.00")
    assert line.product_name == "Aurora Ring"
    ring.delete()
    line.refresh_from_db()
    assert line.variant_id is None
    assert line.sku == "RING-Y-L"


def test_shipping_rules(settings):
    settings.SHOP_FREE_SHIPPING_THRESHOLD = Decimal("250.00")
    assert shipping_cost(method="standard", goods_total=Decimal("249.99")) == Decimal("5.00")
    assert shipping_cost(method="standard", goods_total=Decimal("250.00")) == Decimal("0.00")
    assert shipping_cost(method="express", goods_total=Decimal("9999")) == Decimal("25.00")
    assert shipping_cost(method="collect", goods_total=Decimal("10")) == Decimal("0.00")
    with pytest.raises(services.OrderError):
        shipping_cost(method="teleport", goods_total=Decimal("10"))


def test_standard_shipping_charged_below_threshold_and_express_always(ring):
    order = place(cart_with((ring, 1)))
    assert order.shipping_cost == Decimal("5.00")
    assert order.total == Decimal("125.00")
    express = place(cart_with((ring, 2)), shipping_method="express")
    assert express.shipping_cost == Decimal("25.00")
    assert express.total == Decimal("265.00")


def test_signed_in_user_is_recorded(ring):
    user = UserFactory()
    order = place(cart_with((ring, 1), user=user), user=user)
    assert order.user == user
    assert OrderEvent.objects.get(order=order).actor == user


def test_same_checkout_token_gives_the_same_order_once(ring):
    cart = cart_with((ring, 1))
    token = uuid.uuid4()
    first = place(cart, checkout_token=token)
    cart_with((ring, 1))  # even if the shopper filled a new cart meanwhile
    second = place(cart, checkout_token=token)
    assert first.pk == second.pk
    assert Order.objects.count() == 1
    assert stock(ring) == 2


def test_out_of_stock_raises_lists_the_short_line_and_changes_nothing(ring, necklace):
    cart = cart_with((ring, 1), (necklace, 2))
    ProductVariant.objects.filter(pk=necklace.pk).update(stock=1)
    with pytest.raises(OutOfStockError) as caught:
        place(cart)
    assert [(s.variant_id, s.requested, s.available) for s in caught.value.short] == [(necklace.pk, 2, 1)]
    assert "Lune Necklace" in str(caught.value)
    assert Order.objects.count() == 0
    assert OrderLine.objects.count() == 0
    assert (stock(ring), stock(necklace)) == (3, 1)
    assert cart.lines.count() == 2


def test_withdrawn_piece_counts_as_out_of_stock(ring):
    cart = cart_with((ring, 1))
    ProductVariant.objects.filter(pk=ring.pk).update(is_active=False)
    with pytest.raises(OutOfStockError):
        place(cart)
    assert stock(ring) == 3
    assert not Order.objects.exists()


def test_two_engravings_of_one_ring_share_its_stock(ring):
    cart = cart_with((ring, 2, "A"), (ring, 2, "B"))  # 4 wanted, 3 in stock
    with pytest.raises(OutOfStockError) as caught:
        place(cart)
    assert caught.value.short[0].requested == 4
    assert stock(ring) == 3


def test_price_change_since_the_summary_is_refused(ring):
    cart = cart_with((ring, 1))
    ProductVariant.objects.filter(pk=ring.pk).update(price=Decimal("150.00"))
    with pytest.raises(PriceChangedError) as caught:
        place(cart, expected_goods_total=Decimal("120.00"))
    assert caught.value.total == Decimal("150.00")
    assert not Order.objects.exists()
    assert stock(ring) == 3
    order = place(cart, expected_goods_total=Decimal("150.00"))
    assert order.subtotal == Decimal("150.00")


def test_empty_cart_is_refused(db):
    with pytest.raises(CartEmptyError):
        place(cart_with())
    assert not Order.objects.exists()


def test_confirmation_email_is_stored_with_the_order_and_sent_by_the_worker(ring, django_capture_on_commit_callbacks):
    cart = cart_with((ring, 1, "Léa ♥"))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        order = place(cart, gift_message="For you")
        assert Mail.objects.get().reference == order.number  # in the order's transaction
        assert not DBTaskResult.objects.exists()  # the worker hears of it only after commit
    for callback in callbacks:
        callback()
    assert DBTaskResult.objects.ready().count() == 1
    assert mail.outbox == []  # the request never sends
    mail_worker_run()
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["ada@example.com"]
    assert order.number in message.subject
    assert "Léa ♥" in message.body
    # A guest's address is unconfirmed: the gift message stays out of the e-mail (issue 21, S254).
    assert "For you" not in message.body
    assert "gift message will be printed on the card" in message.body
    assert "bank transfer" in message.body.lower()
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html"
    assert order.number in html
    token = order_guest_token(order=order)
    assert token.split(":")[0] in message.body  # the signed guest link
    assert message.extra_headers["Message-ID"] == f"<{Mail.objects.get().uuid}@example.com>"
    assert Mail.objects.get().status == MailStatus.SENT


def test_unreachable_mail_server_keeps_the_order_and_schedules_a_retry(
    ring, settings, caplog, django_capture_on_commit_callbacks
):
    from loopback import free_port

    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 2  # nobody listens
    with django_capture_on_commit_callbacks(execute=True):
        order = place(cart_with((ring, 1)))
    with django_capture_on_commit_callbacks(execute=True):
        mail_worker_run()
    assert Order.objects.filter(pk=order.pk).exists()
    assert stock(ring) == 2
    stored = Mail.objects.get()
    assert (stored.status, stored.attempts, stored.last_error) == (MailStatus.PENDING, 1, "ConnectionRefusedError")
    retry = DBTaskResult.objects.filter(status="READY").get()
    assert retry.run_after == stored.next_attempt_at  # the next try waits for its backoff
    failures = [r for r in caplog.records if getattr(r, "event", "") == "mail_attempt_failed"]
    assert [(r.reference, r.error, r.attempts) for r in failures] == [(order.number, "ConnectionRefusedError", 1)]
    assert "ada@example.com" not in caplog.text


def test_failure_after_stock_decrement_leaves_no_order_no_stock_change_no_email(
    ring, monkeypatch, django_capture_on_commit_callbacks
):
    cart = cart_with((ring, 2))

    def explode(**kwargs):
        # By now the stock UPDATE has run inside the transaction.
        assert ProductVariant.objects.get(pk=ring.pk).stock == 1
        raise RuntimeError("disk full")

    monkeypatch.setattr(services, "_order_lines_create", explode)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
        place(cart)
    assert not Order.objects.exists()
    assert stock(ring) == 3
    assert cart.lines.get().quantity == 2
    assert mail.outbox == []
    assert not Mail.objects.exists()  # rolled back with the order


def test_payment_instructions(ring, settings):
    settings.SHOP_BANK_TRANSFER_DETAILS = "Sort code 11-22-33"
    bank = place(cart_with((ring, 1)))
    text = payment_start(order=bank).text
    assert "Sort code 11-22-33" in text
    assert bank.number in text
    assert "£125.00" in text
    collect = place(cart_with((ring, 1)), shipping_method="collect", payment_method="on_collection")
    assert "collect" in payment_instructions(order=collect).text
    assert payment_start(order=collect).redirect_url is None


# --- Workflow ---------------------------------------------------------------------------------


def test_full_workflow_records_each_event(ring):
    staff = StaffUserFactory()
    order = place(cart_with((ring, 1)))
    for status in (OrderStatus.PAID, OrderStatus.SHIPPED, OrderStatus.DELIVERED):
        order = order_transition(order=order, to_status=status, actor=staff, note=f"to {status}")
    events = list(order.events.values_list("from_status", "to_status", "actor", "note"))
    assert events[1:] == [
        ("awaiting_payment", "paid", staff.pk, "to paid"),
        ("paid", "shipped", staff.pk, "to shipped"),
        ("shipped", "delivered", staff.pk, "to delivered"),
    ]
    assert Order.objects.get(pk=order.pk).status == OrderStatus.DELIVERED


@pytest.mark.parametrize(
    ("path", "illegal"),
    [
        ([], OrderStatus.SHIPPED),
        ([], OrderStatus.DELIVERED),
        ([], OrderStatus.AWAITING_PAYMENT),
        ([OrderStatus.PAID], OrderStatus.PAID),
        ([OrderStatus.PAID, OrderStatus.SHIPPED], OrderStatus.CANCELLED),
        ([OrderStatus.PAID, OrderStatus.SHIPPED, OrderStatus.DELIVERED], OrderStatus.CANCELLED),
        ([OrderStatus.CANCELLED], OrderStatus.PAID),
        ([], "refunded"),
    ],
)
def test_illegal_transitions_are_refused_and_change_nothing(ring, path, illegal):
    order = place(cart_with((ring, 1)))
    for status in path:
        order = order_transition(order=order, to_status=status, actor=None)
    events_before = order.events.count()
    stock_before = stock(ring)
    with pytest.raises(OrderTransitionError):
        order_transition(order=order, to_status=illegal, actor=None)
    assert Order.objects.get(pk=order.pk).status == order.status
    assert order.events.count() == events_before
    assert stock(ring) == stock_before


@pytest.mark.parametrize("paid_first", [False, True])
def test_cancel_restores_stock_exactly_once(ring, necklace, paid_first):
    order = place(cart_with((ring, 2), (necklace, 1)))
    assert (stock(ring), stock(necklace)) == (1, 1)
    if paid_first:
        order = order_transition(order=order, to_status=OrderStatus.PAID, actor=None)
    order_transition(order=order, to_status=OrderStatus.CANCELLED, actor=None, note="customer asked")
    assert (stock(ring), stock(necklace)) == (3, 2)
    with pytest.raises(OrderTransitionError):
        order_transition(order=order, to_status=OrderStatus.CANCELLED, actor=None)
    assert (stock(ring), stock(necklace)) == (3, 2)


def test_cancel_with_a_deleted_variant_restores_the_rest(ring, necklace):
    order = place(cart_with((ring, 1), (necklace, 1)))
    necklace.delete()
    order_transition(order=order, to_status=OrderStatus.CANCELLED, actor=None)
    assert stock(ring) == 3


def test_stale_order_object_cannot_cancel_twice(ring):
    order = place(cart_with((ring, 1)))
    stale = Order.objects.get(pk=order.pk)
    order_transition(order=order, to_status=OrderStatus.CANCELLED, actor=None)
    with pytest.raises(OrderTransitionError):
        order_transition(order=stale, to_status=OrderStatus.CANCELLED, actor=None)  # status re-read under lock
    assert stock(ring) == 3


# --- Guest links and constraints -----------------------------------------------------------------


def test_guest_token_round_trip_and_tampering(ring, settings):
    order = place(cart_with((ring, 1)))
    token = order_guest_token(order=order)
    assert order_from_guest_token(token=token) == order
    assert order_from_guest_token(token=token[:-1] + ("B" if token.endswith("A") else "A")) is None
    assert order_from_guest_token(token="garbage") is None
    settings.SHOP_ORDER_LINK_MAX_AGE = -1
    assert order_from_guest_token(token=token) is None


def test_database_constraints(ring):
    order = place(cart_with((ring, 1)))
    with pytest.raises(IntegrityError), transaction.atomic():
        OrderLine.objects.create(
            order=order, product_name="x", sku="x", unit_price=1, quantity=0, line_total=0, engraving_fee=0
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        Order.objects.filter(pk=order.pk).update(total=Decimal("1.00"))  # no longer adds up
    other = place(cart_with((ring, 1)))
    with pytest.raises(IntegrityError), transaction.atomic():
        Order.objects.filter(pk=other.pk).update(checkout_token=order.checkout_token)
    with pytest.raises(IntegrityError), transaction.atomic():
        Order.objects.filter(pk=other.pk).update(number=order.number)
