"""Cart service rules, on Postgres."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.utils import timezone

from cart.cart import cart_summary
from cart.models import Cart, CartLine
from cart.services import (
    CartError,
    cart_add_line,
    cart_merge,
    cart_reconcile,
    cart_remove_line,
    cart_update_line,
)
from tests.factories import ProductVariantFactory, UserFactory

pytestmark = pytest.mark.django_db


def quantities(cart: Cart) -> list[tuple[int, str, int]]:
    return sorted(cart.lines.values_list("variant_id", "engraving", "quantity"))


def test_add_creates_a_line_and_adding_again_adds_up(ring):
    cart = Cart.objects.create()
    cart_add_line(cart=cart, variant=ring, quantity=1)
    cart_add_line(cart=cart, variant=ring, quantity=2)
    assert quantities(cart) == [(ring.pk, "", 3)]


def test_add_beyond_stock_is_refused_and_changes_nothing(ring):
    cart = Cart.objects.create()
    cart_add_line(cart=cart, variant=ring, quantity=2)
    with pytest.raises(CartError, match="between 1 and 3"):
        cart_add_line(cart=cart, variant=ring, quantity=2)
    assert quantities(cart) == [(ring.pk, "", 2)]


def test_quantity_is_capped_by_the_shop_maximum_even_with_more_stock(settings):
    settings.SHOP_CART_MAX_QUANTITY = 10
    variant = ProductVariantFactory(stock=500)
    cart = Cart.objects.create()
    with pytest.raises(CartError, match="between 1 and 10"):
        cart_add_line(cart=cart, variant=variant, quantity=11)
    cart_add_line(cart=cart, variant=variant, quantity=10)
    assert quantities(cart) == [(variant.pk, "", 10)]


@pytest.mark.parametrize("quantity", [0, -1])
def test_add_refuses_non_positive_quantities(ring, quantity):
    cart = Cart.objects.create()
    with pytest.raises(CartError):
        cart_add_line(cart=cart, variant=ring, quantity=quantity)
    assert not cart.lines.exists()


def test_inactive_variant_or_product_cannot_be_added(ring):
    cart = Cart.objects.create()
    ring.is_active = False
    ring.save()
    with pytest.raises(CartError, match="no longer available"):
        cart_add_line(cart=cart, variant=ring, quantity=1)
    other = ProductVariantFactory(stock=2)
    other.product.is_active = False
    other.product.save()
    with pytest.raises(CartError, match="no longer available"):
        cart_add_line(cart=cart, variant=other, quantity=1)
    assert not cart.lines.exists()


def test_same_ring_with_different_engravings_is_two_lines(ring):
    cart = Cart.objects.create()
    cart_add_line(cart=cart, variant=ring, quantity=1, engraving="Anna & Léo")
    cart_add_line(cart=cart, variant=ring, quantity=1, engraving="Toujours ♥")
    cart_add_line(cart=cart, variant=ring, quantity=1, engraving="  Anna & Léo ")  # same text once stripped
    assert quantities(cart) == [(ring.pk, "Anna & Léo", 2), (ring.pk, "Toujours ♥", 1)]


def test_engraving_is_normalised_to_composed_characters(ring):
    cart = Cart.objects.create()
    line = cart_add_line(cart=cart, variant=ring, quantity=1, engraving="Le\u0301a")  # e + combining acute
    assert line.engraving == "Léa"


def test_engraving_refused_for_products_that_cannot_be_engraved(pendant):
    cart = Cart.objects.create()
    with pytest.raises(CartError, match="cannot be engraved"):
        cart_add_line(cart=cart, variant=pendant, quantity=1, engraving="Hi")
    assert not cart.lines.exists()


@pytest.mark.parametrize(
    "text",
    [
        "x" * 31,  # too long
        "abc\u202edcba",  # right-to-left override
        "ab\u200bcd",  # zero-width space
        "love 💍",  # emoji
        "nul\x00byte",
        "<script>",
        "Привет",  # not a Latin letter: the engraver cannot cut it
        "tab\there",
    ],
)
def test_engraving_with_bad_characters_or_length_is_refused(ring, text):
    cart = Cart.objects.create()
    with pytest.raises(CartError):
        cart_add_line(cart=cart, variant=ring, quantity=1, engraving=text)
    assert not cart.lines.exists()


def test_engraving_fee_is_charged_per_engraved_piece(ring, settings):
    settings.SHOP_ENGRAVING_FEE = Decimal("25.00")
    cart = Cart.objects.create()
    cart_add_line(cart=cart, variant=ring, quantity=2, engraving="A & B")
    summary = cart_summary(cart)
    assert summary.subtotal == Decimal("500.00")
    assert summary.engraving_total == Decimal("50.00")
    assert summary.total == Decimal("550.00")
    assert summary.count == 2


def test_prices_come_from_the_database_at_each_summary(ring):
    cart = Cart.objects.create()
    cart_add_line(cart=cart, variant=ring, quantity=1)
    type(ring).objects.filter(pk=ring.pk).update(price=Decimal("199.00"))
    assert cart_summary(cart).total == Decimal("199.00")


def test_update_is_bounded_by_stock(ring):
    cart = Cart.objects.create()
    line = cart_add_line(cart=cart, variant=ring, quantity=1)
    cart_update_line(line=line, quantity=3)
    for bad in (0, -1, 4, 10**12):
        with pytest.raises(CartError):
            cart_update_line(line=line, quantity=bad)
    assert quantities(cart) == [(ring.pk, "", 3)]


def test_remove_line(ring):
    cart = Cart.objects.create()
    line = cart_add_line(cart=cart, variant=ring, quantity=1)
    cart_remove_line(line=line)
    assert not cart.lines.exists()


def test_reconcile_removes_withdrawn_pieces_and_reduces_short_lines(ring, pendant):
    cart = Cart.objects.create()
    cart_add_line(cart=cart, variant=ring, quantity=3)
    cart_add_line(cart=cart, variant=pendant, quantity=2)
    type(ring).objects.filter(pk=ring.pk).update(stock=1)
    type(pendant).objects.filter(pk=pendant.pk).update(is_active=False)
    lines = list(cart.lines.select_related("variant__product"))
    notes = cart_reconcile(lines=lines)
    assert len(notes) == 2
    assert any("Lune Pendant" in n and "removed" in n for n in notes)
    assert any("Aurora Ring" in n and "Only 1" in n for n in notes)
    assert quantities(cart) == [(ring.pk, "", 1)]
    assert [line.quantity for line in lines] == [1]


def test_reconcile_leaves_a_good_cart_alone(ring):
    cart = Cart.objects.create()
    cart_add_line(cart=cart, variant=ring, quantity=2)
    assert cart_reconcile(lines=list(cart.lines.select_related("variant__product"))) == []
    assert quantities(cart) == [(ring.pk, "", 2)]


def test_merge_adds_up_identical_lines_bounded_by_stock_and_keeps_the_rest(ring, pendant):
    user_cart = Cart.objects.create(user=UserFactory())
    cart_add_line(cart=user_cart, variant=ring, quantity=2)
    cart_add_line(cart=user_cart, variant=ring, quantity=1, engraving="J")
    anonymous = Cart.objects.create()
    cart_add_line(cart=anonymous, variant=ring, quantity=2)  # 2 + 2 > stock 3
    cart_add_line(cart=anonymous, variant=ring, quantity=1, engraving="K")
    cart_add_line(cart=anonymous, variant=pendant, quantity=1)

    notes = cart_merge(source=anonymous, target=user_cart)

    assert quantities(user_cart) == sorted(
        [(ring.pk, "", 3), (ring.pk, "J", 1), (ring.pk, "K", 1), (pendant.pk, "", 1)]
    )
    assert len(notes) == 1
    assert "Only 3" in notes[0]
    assert not Cart.objects.filter(pk=anonymous.pk).exists()


def test_merge_without_overlap_neither_loses_nor_doubles(ring, pendant):
    user_cart = Cart.objects.create(user=UserFactory())
    cart_add_line(cart=user_cart, variant=ring, quantity=1)
    anonymous = Cart.objects.create()
    cart_add_line(cart=anonymous, variant=pendant, quantity=2)
    assert cart_merge(source=anonymous, target=user_cart) == []
    assert quantities(user_cart) == sorted([(ring.pk, "", 1), (pendant.pk, "", 2)])


def test_merge_drops_pieces_that_are_gone(ring):
    user_cart = Cart.objects.create(user=UserFactory())
    anonymous = Cart.objects.create()
    cart_add_line(cart=anonymous, variant=ring, quantity=1)
    type(ring).objects.filter(pk=ring.pk).update(stock=0)
    notes = cart_merge(source=anonymous, target=user_cart)
    assert not user_cart.lines.exists()
    assert len(notes) == 1


def test_merge_into_itself_is_a_no_op(ring):
    cart = Cart.objects.create()
    cart_add_line(cart=cart, variant=ring, quantity=1)
    assert cart_merge(source=cart, target=cart) == []
    assert quantities(cart) == [(ring.pk, "", 1)]


def test_database_refuses_zero_quantity_and_duplicate_lines(ring):
    cart = Cart.objects.create()
    with pytest.raises(IntegrityError), transaction.atomic():
        CartLine.objects.create(cart=cart, variant=ring, quantity=0)
    CartLine.objects.create(cart=cart, variant=ring, quantity=1, engraving="A")
    with pytest.raises(IntegrityError), transaction.atomic():
        CartLine.objects.create(cart=cart, variant=ring, quantity=1, engraving="A")


def test_one_cart_per_user(db):
    user = UserFactory()
    Cart.objects.create(user=user)
    with pytest.raises(IntegrityError), transaction.atomic():
        Cart.objects.create(user=user)


def test_prune_deletes_only_stale_anonymous_carts(ring):
    stale = Cart.objects.create()
    cart_add_line(cart=stale, variant=ring, quantity=1)
    fresh = Cart.objects.create()
    users = Cart.objects.create(user=UserFactory())
    long_ago = timezone.now() - timedelta(days=31)
    Cart.objects.filter(pk__in=[stale.pk, users.pk]).update(updated_at=long_ago)
    call_command("prune_carts", "--days=30")
    assert set(Cart.objects.values_list("pk", flat=True)) == {fresh.pk, users.pk}
    assert not CartLine.objects.exists()
