"""Order admin permissions (issue 15) and the shipping export and read-only order page (issue 16, Staff).

Bulk status actions need the order change permission, the CSV export its own ``orders.export_order``;
staff who may only view orders see neither and get 403 when they forge the POST.
"""

import csv
import io

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from orders.models import Order, OrderStatus
from tests.factories import ProductFactory, ProductVariantFactory, UserFactory
from tests.orders.conftest import ADDRESS, cart_with, place

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:orders_order_changelist")


def staff_with(*codenames: str) -> Client:
    user = UserFactory(username=f"staff-{'-'.join(c.split('_')[0] for c in codenames) or 'none'}", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="orders", codename__in=codenames))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def ring():
    product = ProductFactory(name="Aurora Ring", is_engravable=True)
    return ProductVariantFactory(product=product, sku="RING-Y-L", stock=5)


@pytest.fixture
def order(ring):
    return place(cart_with((ring, 1)), email="buyer@example.com")


def test_view_only_staff_see_no_actions(order):
    viewer = staff_with("view_order")
    response = viewer.get(CHANGELIST)
    assert response.status_code == 200
    body = response.content.decode()
    assert 'name="action"' not in body
    assert "export_csv" not in body


@pytest.mark.parametrize("action", ["mark_paid", "mark_shipped", "mark_cancelled", "export_csv", "delete_selected"])
def test_view_only_staff_get_403_for_a_forged_action(order, action):
    viewer = staff_with("view_order")
    response = viewer.post(CHANGELIST, {"action": action, "_selected_action": [order.pk], "index": "0"})
    assert response.status_code == 403
    order.refresh_from_db()
    assert order.status == OrderStatus.AWAITING_PAYMENT


def test_order_handlers_without_the_export_permission_cannot_export(order):
    handler = staff_with("view_order", "change_order")
    body = handler.get(CHANGELIST).content.decode()
    assert 'value="mark_paid"' in body
    assert 'value="export_csv"' not in body
    response = handler.post(CHANGELIST, {"action": "export_csv", "_selected_action": [order.pk], "index": "0"})
    assert response.status_code == 403


def test_order_handlers_can_mark_paid(order):
    handler = staff_with("view_order", "change_order")
    response = handler.post(CHANGELIST, {"action": "mark_paid", "_selected_action": [order.pk], "index": "0"})
    assert response.status_code == 302
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID


def test_view_only_staff_see_no_workflow_buttons_and_get_403_on_a_forged_transition(order):
    viewer = staff_with("view_order")
    body = viewer.get(reverse("admin:orders_order_change", args=[order.pk])).content.decode()
    assert "formaction=" not in body
    response = viewer.post(reverse("admin:orders_order_transition", args=[order.pk]), {"to_status": "paid"})
    assert response.status_code == 403
    order.refresh_from_db()
    assert order.status == OrderStatus.AWAITING_PAYMENT


def test_the_read_only_order_page_has_no_save_buttons(order):
    handler = staff_with("view_order", "change_order")
    body = handler.get(reverse("admin:orders_order_change", args=[order.pk])).content.decode()
    assert 'name="_save"' not in body
    assert 'name="_continue"' not in body
    assert 'name="_addanother"' not in body
    assert 'value="paid"' in body  # the workflow buttons stay


def test_the_export_is_a_usable_shipping_list_and_formula_safe(ring):
    necklace = ProductVariantFactory(product=ProductFactory(name="Lune Necklace"), sku="LUNE-1", stock=3)
    cart = cart_with((ring, 1, "For Ada, always"), (necklace, 2))
    address = ADDRESS.__class__(**{**ADDRESS.__dict__, "address_line2": "Flat 2", "phone": "+44 20 7946 0000"})
    risky = place(cart, email="=HYPERLINK(evil)@example.com", shipping_address=address, gift_message="@SUM(1) hi")
    exporter = staff_with("view_order", "export_order")

    response = exporter.post(CHANGELIST, {"action": "export_csv", "_selected_action": [risky.pk], "index": "0"})

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [(row["sku"], row["quantity"], row["engraving"]) for row in rows] == [
        ("RING-Y-L", "1", "For Ada, always"),
        ("LUNE-1", "2", ""),
    ]
    first = rows[0]
    assert first["number"] == risky.number
    assert (first["address_line1"], first["address_line2"], first["city"], first["postcode"]) == (
        "12 St James's Square",
        "Flat 2",
        "London",
        "SW1Y 4JH",
    )
    assert first["phone"] == "'+44 20 7946 0000"  # formula-safe: a leading + is neutralised too
    assert first["email"] == "'=HYPERLINK(evil)@example.com"
    assert first["gift_message"] == "'@SUM(1) hi"
    assert Order.objects.get(pk=risky.pk).status == OrderStatus.AWAITING_PAYMENT
