"""Least-privilege staff roles from the provider's groups (issue 15, "Stock and orders", third item).

Before: the staff group made at first sign-in held every catalogue, order and cart permission.
"""

from importlib import import_module

import pytest
from django.apps import apps
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django.urls import reverse

from accounts.services import CATALOGUE_EDITORS, ORDER_HANDLERS, user_sync_from_oidc
from tests.factories import ProductVariantFactory
from tests.orders.conftest import cart_with, place

pytestmark = pytest.mark.django_db


def sync(sub: str, *groups: str):
    claims = {"sub": sub, "cognito:groups": list(groups)}
    return user_sync_from_oidc(claims=claims, staff_group="staff", groups_claim="cognito:groups")


def fresh(user):
    return type(user).objects.get(pk=user.pk)  # no cached permissions


def test_the_staff_group_no_longer_gets_every_permission():
    user = fresh(sync("s-1", "staff"))
    assert user.is_staff
    assert not user.is_superuser
    assert user.has_perm("catalog.change_product")
    assert user.has_perm("orders.change_order")
    for denied in (
        "cart.view_cart",
        "cart.delete_cart",
        "orders.delete_order",
        "orders.add_order",
        "orders.change_orderevent",
        "catalog.delete_stockadjustment",
        "catalog.change_stockadjustment",
        "accounts.view_user",
        "accounts.change_user",
        "auth.change_group",
    ):
        assert not user.has_perm(denied), denied


def test_catalogue_editors_edit_the_catalogue_and_cannot_see_orders():
    editor = fresh(sync("s-2", CATALOGUE_EDITORS))
    assert editor.is_staff
    assert editor.has_perm("catalog.change_productvariant")
    assert not editor.has_perm("orders.view_order")
    order = place(cart_with((ProductVariantFactory(), 1)))
    client = Client()
    client.force_login(editor)
    assert client.get(reverse("admin:catalog_product_changelist")).status_code == 200
    assert client.get(reverse("admin:orders_order_changelist")).status_code == 403
    assert client.get(reverse("admin:orders_order_change", args=[order.pk])).status_code in (302, 403)


def test_order_handlers_run_orders_and_only_look_at_the_catalogue():
    handler = fresh(sync("s-3", ORDER_HANDLERS))
    assert handler.has_perm("orders.change_order")
    assert handler.has_perm("orders.export_order")
    assert handler.has_perm("catalog.view_product")
    assert not handler.has_perm("catalog.change_product")
    assert not handler.has_perm("catalog.change_productvariant")


def test_leaving_a_role_group_takes_its_permissions_away_and_no_claim_makes_a_superuser():
    user = sync("s-4", CATALOGUE_EDITORS, ORDER_HANDLERS)
    assert sorted(user.groups.values_list("name", flat=True)) == [CATALOGUE_EDITORS, ORDER_HANDLERS]
    user = fresh(sync("s-4", ORDER_HANDLERS, "superuser", "admin", "Staff"))
    assert list(user.groups.values_list("name", flat=True)) == [ORDER_HANDLERS]
    assert not user.has_perm("catalog.change_product")
    assert not user.is_superuser
    user = fresh(sync("s-4"))
    assert not user.is_staff
    assert not user.groups.exists()


def test_the_migration_narrows_an_existing_all_powerful_staff_group():
    group = Group.objects.create(name="staff")
    group.permissions.set(Permission.objects.filter(content_type__app_label__in=("catalog", "orders", "cart")))
    migration = import_module("accounts.migrations.0004_staff_group_least_privilege")

    migration.narrow(apps, None)

    codenames = set(group.permissions.values_list("content_type__app_label", "codename"))
    assert ("catalog", "change_product") in codenames
    assert ("orders", "change_order") in codenames
    assert not {c for c in codenames if c[0] == "cart"}
    assert ("orders", "delete_order") not in codenames
