"""Staff tools in the admin: list, search, workflow buttons and actions, CSV export, low stock."""

import csv
import io

import pytest
from django.urls import reverse

from catalog.models import ProductVariant
from orders.models import Order, OrderEvent, OrderStatus
from orders.workflow import order_transition
from tests.factories import ProductVariantFactory, StaffUserFactory, UserFactory
from tests.orders.conftest import cart_with, place

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    staff = StaffUserFactory()
    client.force_login(staff)
    client.staff = staff
    return client


@pytest.fixture
def order(ring):
    return place(cart_with((ring, 2)), email="buyer@example.com")


def test_order_list_filters_and_search(staff_client, order, ring):
    other = place(cart_with((ring, 1)), email="someone@example.com")
    url = reverse("admin:orders_order_changelist")
    response = staff_client.get(url)
    assert response.status_code == 200
    assert order.number in response.content.decode()
    assert staff_client.get(url, {"status__exact": "paid"}).context["cl"].result_count == 0
    assert staff_client.get(url, {"status__exact": "awaiting_payment"}).context["cl"].result_count == 2
    found = staff_client.get(url, {"q": "buyer@"}).context["cl"].result_list
    assert [o.pk for o in found] == [order.pk]
    assert [o.pk for o in staff_client.get(url, {"q": other.number}).context["cl"].result_list] == [other.pk]


def test_change_page_shows_lines_events_and_only_allowed_buttons(staff_client, order):
    response = staff_client.get(reverse("admin:orders_order_change", args=[order.pk]))
    body = response.content.decode()
    assert response.status_code == 200
    assert "RING-Y-L" in body
    assert "Order placed" in body
    assert 'value="paid"' in body
    assert 'value="cancelled"' in body
    assert 'value="shipped"' not in body


def test_record_payment_button_goes_through_the_workflow(staff_client, order):
    url = reverse("admin:orders_order_transition", args=[order.pk])
    response = staff_client.post(url, {"to_status": "paid", "transition_note": "BACS ref 991"})
    assert response.status_code == 302
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    event = order.events.last()
    assert (event.from_status, event.to_status, event.actor, event.note) == (
        "awaiting_payment",
        "paid",
        staff_client.staff,
        "BACS ref 991",
    )


def test_illegal_button_is_refused_with_a_message(staff_client, order):
    url = reverse("admin:orders_order_transition", args=[order.pk])
    response = staff_client.post(url, {"to_status": "delivered"}, follow=True)
    assert "cannot go from" in response.content.decode()
    order.refresh_from_db()
    assert order.status == OrderStatus.AWAITING_PAYMENT
    assert staff_client.post(url, {"to_status": "nonsense"}).status_code == 302
    assert order.events.count() == 1


def test_transition_url_ignores_get_and_non_staff(client, staff_client, order, ring):
    url = reverse("admin:orders_order_transition", args=[order.pk])
    assert staff_client.get(url, {"to_status": "cancelled"}).status_code == 302
    client.logout()
    client.force_login(UserFactory())
    assert client.post(url, {"to_status": "cancelled"}).status_code == 302  # to the admin login
    order.refresh_from_db()
    assert order.status == OrderStatus.AWAITING_PAYMENT
    assert ProductVariant.objects.get(pk=ring.pk).stock == 1


def test_bulk_cancel_action_restocks_once_and_reports_refusals(staff_client, order, ring):
    shipped = place(cart_with((ring, 1)))
    order_transition(order=shipped, to_status="paid", actor=None)
    order_transition(order=shipped, to_status="shipped", actor=None)
    url = reverse("admin:orders_order_changelist")
    data = {"action": "mark_cancelled", "_selected_action": [order.pk, shipped.pk]}
    response = staff_client.post(url, data, follow=True)
    assert "Not allowed" in response.content.decode()
    assert Order.objects.get(pk=order.pk).status == OrderStatus.CANCELLED
    assert Order.objects.get(pk=shipped.pk).status == OrderStatus.SHIPPED
    assert ProductVariant.objects.get(pk=ring.pk).stock == 2  # 3 - 2 - 1 + 2
    staff_client.post(url, data)
    assert ProductVariant.objects.get(pk=ring.pk).stock == 2
    assert OrderEvent.objects.filter(to_status="cancelled").count() == 1


def test_csv_export_of_selected_orders_neutralises_formulas(staff_client, ring):
    risky = place(cart_with((ring, 1)), email="=HYPERLINK(evil)@example.com")
    plain = place(cart_with((ring, 1)))
    response = staff_client.post(
        reverse("admin:orders_order_changelist"),
        {"action": "export_csv", "_selected_action": [risky.pk, plain.pk]},
    )
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert {row["number"] for row in rows} == {risky.number, plain.number}
    emails = {row["email"] for row in rows}
    assert "'=HYPERLINK(evil)@example.com" in emails
    assert all((row["quantity"], row["sku"]) == ("1", "RING-Y-L") for row in rows)


def test_orders_cannot_be_added_or_deleted_in_the_admin(staff_client, order):
    assert staff_client.get(reverse("admin:orders_order_add")).status_code == 403
    assert staff_client.get(reverse("admin:orders_order_delete", args=[order.pk])).status_code == 403


def test_low_stock_view_lists_only_variants_at_or_under_threshold(staff_client):
    low = ProductVariantFactory(stock=1, low_stock_threshold=2, sku="LOW-1")
    out = ProductVariantFactory(stock=0, sku="OUT-1")
    ProductVariantFactory(stock=5, low_stock_threshold=2, sku="PLENTY-1")
    ProductVariantFactory(stock=0, sku="RETIRED-1", is_active=False)
    response = staff_client.get(reverse("admin:orders_lowstockvariant_changelist"))
    assert response.status_code == 200
    assert {v.sku for v in response.context["cl"].result_list} == {low.sku, out.sku}
    sold_out = staff_client.get(reverse("admin:orders_lowstockvariant_changelist"), {"stock": "out"})
    assert [v.sku for v in sold_out.context["cl"].result_list] == ["OUT-1"]
