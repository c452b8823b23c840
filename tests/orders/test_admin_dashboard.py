"""The admin home's dashboard (issue 16, Staff): orders waiting, today's orders and takings, low stock."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from orders.models import OrderStatus
from orders.workflow import order_transition
from tests.factories import ProductFactory, ProductVariantFactory, StaffUserFactory, UserFactory
from tests.orders.conftest import cart_with, place

pytestmark = pytest.mark.django_db

INDEX = reverse("admin:index")


def staff_with(*perms: str) -> Client:
    user = UserFactory(username=f"staff-{len(perms)}-{'-'.join(perms)[:40]}", is_staff=True)
    for perm in perms:
        app_label, codename = perm.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    client = Client()
    client.force_login(user)
    return client


def test_dashboard_counts_orders_to_handle_and_today_takings():
    ring = ProductVariantFactory(product=ProductFactory(name="Aurora Ring"), price=Decimal("100.00"), stock=10)
    waiting = place(cart_with((ring, 1)))  # 100 + 5 delivery
    paid = place(cart_with((ring, 2)))  # 200 + 5
    cancelled = place(cart_with((ring, 1)))
    order_transition(order=paid, to_status=OrderStatus.PAID, actor=None)
    order_transition(order=cancelled, to_status=OrderStatus.CANCELLED, actor=None)
    client = Client()
    client.force_login(StaffUserFactory())

    response = client.get(INDEX)

    assert response.status_code == 200
    figures = response.context["dashboard"]["orders"]
    assert (figures.awaiting_payment, figures.awaiting_dispatch, figures.today_count) == (1, 1, 3)
    assert figures.today_value == waiting.total + paid.total
    assert figures.today_paid == paid.total
    body = response.content.decode()
    assert "awaiting payment" in body
    assert "£310" in body  # 105 + 205
    assert client.get(reverse("admin:orders_order_changelist"), {"status__exact": "paid"}).status_code == 200
    day = figures.day_start.isoformat()
    today_list = client.get(reverse("admin:orders_order_changelist"), {"created_at__gte": day})
    assert today_list.context["cl"].result_count == 3
    assert "created_at__gte=" + figures.day_start.isoformat().replace("+", "%2B").replace(":", "%3A") in body


def test_dashboard_lists_low_stock_sellable_variants_emptiest_first():
    ProductVariantFactory(sku="PLENTY", stock=9, low_stock_threshold=2)
    ProductVariantFactory(sku="LAST-ONE", stock=1, low_stock_threshold=2)
    ProductVariantFactory(sku="GONE", stock=0)
    ProductVariantFactory(sku="HIDDEN", stock=0, is_active=False)
    client = Client()
    client.force_login(StaffUserFactory())

    response = client.get(INDEX)

    stock = response.context["dashboard"]["low_stock"]
    assert [v.sku for v in stock.variants] == ["GONE", "LAST-ONE"]
    assert stock.count == 2
    assert "Sold out" in response.content.decode()


def test_each_part_shows_only_to_staff_whose_permissions_cover_it():
    place(cart_with((ProductVariantFactory(stock=3), 1)))
    editor = staff_with("catalog.view_productvariant", "catalog.change_productvariant")
    dashboard = editor.get(INDEX).context["dashboard"]
    assert "orders" not in dashboard
    assert "low_stock" in dashboard
    handler = staff_with("orders.view_order")
    dashboard = handler.get(INDEX).context["dashboard"]
    assert "orders" in dashboard
    assert "low_stock" not in dashboard


def test_dashboard_is_for_staff_only(client):
    assert client.get(INDEX).status_code == 302  # to the admin sign-in
    client.force_login(UserFactory(username="shopper"))
    assert client.get(INDEX).status_code in (302, 403)


def test_dashboard_query_count_is_flat(django_assert_max_num_queries):
    for index in range(30):
        ProductVariantFactory(stock=0, sku=f"LOW-{index}")
    client = Client()
    client.force_login(StaffUserFactory())
    with django_assert_max_num_queries(12):
        client.get(INDEX)
