"""``Cart.updated_at`` is the prune clock: every change to a cart's lines moves it, whichever service
made the change, so a bag someone is still filling is never pruned as abandoned."""

from datetime import timedelta

import pytest
from django.utils import timezone

from cart.cart import cart_lines
from cart.models import Cart, CartLine
from cart.services import (
    cart_add_line,
    cart_clear,
    cart_merge,
    cart_prune_stale,
    cart_reconcile,
    cart_remove_line,
    cart_update_line,
)
from tests.factories import ProductVariantFactory

pytestmark = pytest.mark.django_db

LONG_AGO = timezone.now() - timedelta(days=90)


def _add(cart, ring, other):
    cart_add_line(cart=cart, variant=other, quantity=1)


def _add_again(cart, ring, other):
    cart_add_line(cart=cart, variant=ring, quantity=1)  # merges into the existing line


def _update(cart, ring, other):
    cart_update_line(line=CartLine.objects.get(cart=cart, variant=ring), quantity=2)


def _remove(cart, ring, other):
    cart_remove_line(line=CartLine.objects.get(cart=cart, variant=ring))


def _clear(cart, ring, other):
    cart_clear(cart=cart)


def _reconcile_reduces(cart, ring, other):
    ring.stock = 1
    ring.save(update_fields=["stock"])
    assert cart_reconcile(lines=cart_lines(cart))  # the line held 3 -> now 1


def _reconcile_removes(cart, ring, other):
    ring.is_active = False
    ring.save(update_fields=["is_active"])
    assert cart_reconcile(lines=cart_lines(cart))


def _merge_into(cart, ring, other):
    source = Cart.objects.create()
    cart_add_line(cart=source, variant=other, quantity=1)
    cart_merge(source=source, target=cart)


@pytest.mark.parametrize(
    "change",
    [_add, _add_again, _update, _remove, _clear, _reconcile_reduces, _reconcile_removes, _merge_into],
    ids=lambda f: f.__name__.strip("_"),
)
def test_every_line_change_moves_the_prune_clock(change):
    ring = ProductVariantFactory(stock=5)
    other = ProductVariantFactory(stock=5)
    cart = Cart.objects.create()
    cart_add_line(cart=cart, variant=ring, quantity=3)
    Cart.objects.filter(pk=cart.pk).update(updated_at=LONG_AGO)

    change(cart, ring, other)

    cart.refresh_from_db()
    assert cart.updated_at > timezone.now() - timedelta(minutes=5)
    assert cart_prune_stale(older_than_days=30) == 0
    assert Cart.objects.filter(pk=cart.pk).exists()


def test_reconcile_that_changes_nothing_leaves_the_clock_alone():
    ring = ProductVariantFactory(stock=5)
    cart = Cart.objects.create()
    cart_add_line(cart=cart, variant=ring, quantity=1)
    Cart.objects.filter(pk=cart.pk).update(updated_at=LONG_AGO)

    assert cart_reconcile(lines=cart_lines(cart)) == []  # viewing the bag is not a change

    cart.refresh_from_db()
    assert cart.updated_at == LONG_AGO
    cart_prune_stale(older_than_days=30)
    assert not Cart.objects.filter(pk=cart.pk).exists()
