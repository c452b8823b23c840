"""Cart writes: add, update, remove, reconcile with the catalogue, and merge at sign-in.

Every function takes keyword arguments only and raises ``CartError`` with a message meant for the
shopper when it refuses; a refusal changes nothing.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Sum
from django.utils import timezone

from catalog.models import SELLABLE_RELATED, ProductVariant

from .cart import max_quantity_for
from .models import Cart, CartLine
from .validators import normalise_text, validate_engraving


class CartError(Exception):
    """A cart change the shop refuses; ``str(error)`` is safe to show the shopper."""


def _locked_cart(cart: Cart) -> Cart:
    # Serialises writes to one cart (double clicks, two tabs), so the unique line per
    # (variant, engraving) is read and written without a race.
    return Cart.objects.select_for_update().get(pk=cart.pk)


def _cart_touch(*, cart_id: int) -> None:
    # updated_at is the prune clock (cart_prune_stale): every change to a cart's lines ends here.
    Cart.objects.filter(pk=cart_id).update(updated_at=timezone.now())


def _clean_engraving(*, variant: ProductVariant, engraving: str) -> str:
    engraving = normalise_text(engraving or "")
    if not engraving:
        return ""
    if not variant.product.is_engravable:
        raise CartError(f"{variant.product.name} cannot be engraved.")
    try:
        validate_engraving(engraving)
    except ValidationError as error:
        raise CartError(error.messages[0]) from error
    return engraving


def _check_quantity(*, variant: ProductVariant, quantity: int) -> None:
    limit = max_quantity_for(variant)
    if limit == 0:
        raise CartError(f"Sorry, {variant.product.name} ({variant.options_label}) is no longer available.")
    if quantity < 1 or quantity > limit:
        raise CartError(f"You can have between 1 and {limit} of {variant.product.name} ({variant.options_label}).")


def _check_bag_size(*, cart_id: int, new_line: bool, extra_pieces: int, without_line: int | None = None) -> None:
    """SHOP_CART_MAX_LINES and SHOP_CART_MAX_PIECES per bag: one query, whatever the bag holds.

    The bag is not a hold (checkout's cap in orders.holds is), but without a ceiling one session can put
    every piece of the shop in it, and placement re-checks the same limits."""
    lines = CartLine.objects.filter(cart_id=cart_id)
    if without_line is not None:
        lines = lines.exclude(pk=without_line)
    size = lines.aggregate(lines=Count("pk"), pieces=Sum("quantity", default=0))
    max_lines, max_pieces = settings.SHOP_CART_MAX_LINES, settings.SHOP_CART_MAX_PIECES
    if new_line and size["lines"] >= max_lines:
        raise CartError(
            f"Your bag can hold up to {max_lines} different pieces. Please place an order for these, or take "
            "one out of your bag, before adding another."
        )
    if size["pieces"] + extra_pieces > max_pieces:
        room = max(0, max_pieces - size["pieces"])
        raise CartError(
            f"Your bag can hold up to {max_pieces} pieces in all; there is room for {room} more. "
            "Please choose fewer, or contact us for a larger order."
        )


def cart_add_line(*, cart: Cart, variant: ProductVariant, quantity: int, engraving: str = "") -> CartLine:
    """Add ``quantity`` of a variant (with optional engraving), merging into an identical line."""
    engraving = _clean_engraving(variant=variant, engraving=engraving)
    with transaction.atomic():
        cart = _locked_cart(cart)
        line = CartLine.objects.filter(cart=cart, variant=variant, engraving=engraving).first()
        existing = line.quantity if line else 0
        try:
            _check_quantity(variant=variant, quantity=existing + quantity)
        except CartError as error:
            if existing:
                raise CartError(f"{error} You already have {existing} in your bag.") from error
            raise
        _check_bag_size(cart_id=cart.pk, new_line=line is None, extra_pieces=quantity)
        if line is None:
            line = CartLine.objects.create(cart=cart, variant=variant, quantity=quantity, engraving=engraving)
        else:
            line.quantity = existing + quantity
            line.save(update_fields=["quantity"])
        _cart_touch(cart_id=cart.pk)
    return line


def cart_update_line(*, line: CartLine, quantity: int) -> CartLine:
    """Set a line's quantity, bounded by 1..min(stock, SHOP_CART_MAX_QUANTITY) and the bag's size."""
    _check_quantity(variant=line.variant, quantity=quantity)
    with transaction.atomic():
        cart = _locked_cart(Cart(pk=line.cart_id))
        _check_bag_size(cart_id=cart.pk, new_line=False, extra_pieces=quantity, without_line=line.pk)
        CartLine.objects.filter(pk=line.pk).update(quantity=quantity)
        _cart_touch(cart_id=cart.pk)
    line.quantity = quantity
    return line


def cart_remove_line(*, line: CartLine) -> None:
    """Remove a line from its cart."""
    line.delete()
    _cart_touch(cart_id=line.cart_id)


def cart_clear(*, cart: Cart) -> None:
    """Empty the cart (after an order is placed); the cart row itself stays for the shopper."""
    cart.lines.all().delete()
    _cart_touch(cart_id=cart.pk)


def cart_reconcile(*, lines: list[CartLine]) -> list[str]:
    """Bring lines in line with the catalogue as it is now; returns a message per adjustment.

    A line whose piece was withdrawn is removed; a line holding more than can be had is reduced.
    ``lines`` is updated in place so the caller can render without reading them again.
    """
    notes: list[str] = []
    changed: set[int] = set()
    for line in list(lines):
        variant = line.variant
        label = f"{variant.product.name} ({variant.options_label})"
        limit = max_quantity_for(variant)
        if limit == 0:
            line.delete()
            lines.remove(line)
            notes.append(f"{label} is no longer available and has been removed from your bag.")
            changed.add(line.cart_id)
        elif line.quantity > limit:
            CartLine.objects.filter(pk=line.pk).update(quantity=limit)
            notes.append(f"Only {limit} of {label} can be ordered; your bag now holds {limit}.")
            line.quantity = limit
            changed.add(line.cart_id)
    for cart_id in sorted(changed):
        _cart_touch(cart_id=cart_id)
    return notes


def cart_merge(*, source: Cart, target: Cart) -> list[str]:
    """Move the anonymous ``source`` cart's lines into ``target`` and delete ``source``.

    Identical lines (same variant and engraving) add up, bounded by what can be ordered, so a
    piece put in the bag before and after signing in is neither lost nor doubled beyond stock.
    """
    if source.pk == target.pk:
        return []
    notes: list[str] = []
    with transaction.atomic():
        # Both carts locked in primary-key order: two sign-ins merging at once cannot deadlock.
        locked = {
            c.pk: c for c in Cart.objects.select_for_update().filter(pk__in=[source.pk, target.pk]).order_by("pk")
        }
        if source.pk not in locked or target.pk not in locked:
            return []  # the source was merged (and deleted) by a concurrent request
        existing = {(line.variant_id, line.engraving): line for line in target.lines.all()}
        for line in source.lines.select_related(f"variant__{SELLABLE_RELATED}"):
            variant = line.variant
            label = f"{variant.product.name} ({variant.options_label})"
            limit = max_quantity_for(variant)
            current = existing.get((line.variant_id, line.engraving))
            wanted = line.quantity + (current.quantity if current else 0)
            quantity = min(wanted, limit)
            if quantity < wanted:
                notes.append(f"Only {limit} of {label} can be ordered; your bag holds {limit}.")
            if current is not None:
                if quantity > 0:
                    CartLine.objects.filter(pk=current.pk).update(quantity=quantity)
                else:
                    current.delete()
            elif quantity > 0:
                CartLine.objects.create(cart=target, variant=variant, quantity=quantity, engraving=line.engraving)
        source.delete()
        _cart_touch(cart_id=target.pk)
    return notes


def cart_prune_stale(*, older_than_days: int) -> int:
    """Delete anonymous carts untouched for ``older_than_days``; returns how many. Users' carts stay."""
    cutoff = timezone.now() - timedelta(days=older_than_days)
    deleted, _ = Cart.objects.filter(user__isnull=True, updated_at__lt=cutoff).delete()
    return deleted
