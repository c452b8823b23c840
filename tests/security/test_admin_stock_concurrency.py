"""A staff stock adjustment and a checkout at the same moment, on Postgres: both land (threads + Barrier)."""

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from catalog.models import ProductVariant, StockAdjustment
from tests.factories import ProductFactory, ProductVariantFactory, StaffUserFactory
from tests.orders.conftest import shopper_ready
from tests.security.forms import form_post_data
from tests.security.test_races import run_together

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_adjustment_and_a_sale_at_the_same_moment_both_count():
    ring = ProductVariantFactory(product=ProductFactory(name="Opal Ring"), price=Decimal("400.00"), stock=2)
    staff = Client()
    staff.force_login(StaffUserFactory(username="stocker"))
    url = reverse("admin:catalog_productvariant_change", args=[ring.pk])
    data = form_post_data(staff.get(url).content.decode(), "productvariant_form")
    data.update(stock_change=["3"], stock_reason=["received"])
    shopper, checkout = shopper_ready(ring)

    responses = run_together(
        [lambda: staff.post(url, data), lambda: shopper.post(reverse("orders:checkout"), checkout)]
    )

    assert [getattr(r, "status_code", r) for r in responses] == [302, 302]
    assert ProductVariant.objects.get(pk=ring.pk).stock == 4  # 2 + 3 received - 1 sold, in either order
    adjustment = StockAdjustment.objects.get()
    assert adjustment.stock_after - adjustment.stock_before == 3
    assert adjustment.stock_before in (1, 2)
