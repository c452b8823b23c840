"""Adding to and removing from a shopper's wishlist; reading it with live prices and stock."""

from django.db import IntegrityError, transaction

from catalog.models import Product

from .models import WishlistItem


def wishlist_add(*, user, product: Product) -> bool:
    """Save a product to the user's wishlist; False when it was already there (a double click)."""
    try:
        with transaction.atomic():
            WishlistItem.objects.create(user=user, product=product)
    except IntegrityError:
        return False
    return True


def wishlist_remove(*, user, product_id: int) -> bool:
    """Remove a product from this user's wishlist (only theirs); False when it was not there."""
    deleted, _ = WishlistItem.objects.filter(user=user, product_id=product_id).delete()
    return bool(deleted)


def wishlist_contains(*, user, product_id: int) -> bool:
    """Whether the signed-in user has saved this product (False for anonymous shoppers)."""
    if not user.is_authenticated:
        return False
    return WishlistItem.objects.filter(user=user, product_id=product_id).exists()


def wishlist_entries(*, user) -> list[dict]:
    """The user's saved pieces, newest first: each with its listing product (live price range, stock
    total, first photo) or None when it is no longer for sale. Three queries at any length."""
    items = list(WishlistItem.objects.filter(user=user).select_related("product"))
    listed = {p.pk: p for p in Product.objects.for_listing().filter(pk__in=[i.product_id for i in items])}
    return [{"item": item, "product": item.product, "listed": listed.get(item.product_id)} for item in items]
