"""Stock moved after a variant is saved: pieces sold and returned by orders, and staff adjustments.

A variant's save() (admin, CSV import) is heard by catalog.signals; a queryset update of stock by
catalog.models.ProductVariantQuerySet (every cached fragment goes). These functions move stock by an
amount with F() under the caller's row locks and make obsolete only what the move changes.
"""

from collections import defaultdict
from collections.abc import Mapping

from django.db import DEFAULT_DB_ALIAS, models, transaction
from django.db.models import F, Sum

from ..cache import catalog_cache_versions_bump
from ..events import variant_stock_changed
from ..models import LOW_STOCK_CARD, ProductVariant, StockAdjustment, StockReason


def variant_stock_move(*, deltas: Mapping[int, int], using: str = DEFAULT_DB_ALIAS) -> None:
    """Add each amount (negative: take away) to its variant's stock, and bump the cache versions it changes.

    Call inside the transaction that holds these variants' row locks (taken in pk order); the variants
    are written in pk order too, and the database refuses stock below zero."""
    moves = {variant_id: delta for variant_id, delta in deltas.items() if delta}
    variants = ProductVariant.objects.using(using)
    for variant_id, delta in sorted(moves.items()):
        # QuerySet.update itself, past ProductVariantQuerySet.update (which would make every cached
        # fragment obsolete): _stock_versions_bump does the finer job right after.
        models.QuerySet.update(variants.filter(pk=variant_id), stock=F("stock") + delta)
    _stock_versions_bump(stock_deltas=moves, using=using)


def _stock_versions_bump(*, stock_deltas: Mapping[int, int], using: str) -> None:
    """Bump, for after commit, the cache versions that stock moved by these amounts makes obsolete.

    A product page shows each variant's stock, so the page of every touched product changes. A product
    card shows stock only as "Only N left" or "Sold out", at a total of LOW_STOCK_CARD or less, so every
    grid (the whole catalogue version) changes only when a total was or now is in that range: an
    ordinary sale leaves the cached listings in place. Apps above hear of stock that grew."""
    if not stock_deltas:
        return
    rows = ProductVariant.objects.using(using).filter(pk__in=list(stock_deltas))
    moved: dict[int, int] = defaultdict(int)
    slugs: set[str] = set()
    for pk, product_id, is_active, slug in rows.values_list("pk", "product_id", "is_active", "product__slug"):
        slugs.add(slug)
        if is_active:  # a card counts active variants only
            moved[product_id] += stock_deltas[pk]
    totals = dict(
        ProductVariant.objects.using(using)
        .filter(product_id__in=list(moved), is_active=True)
        .order_by()
        .values("product_id")
        .annotate(total=Sum("stock"))
        .values_list("product_id", "total")
    )
    cards_change = any(
        delta and min(totals.get(product_id, 0), totals.get(product_id, 0) - delta) <= LOW_STOCK_CARD
        for product_id, delta in moved.items()
    )
    catalog_cache_versions_bump(using=using, product_slugs=None if cards_change else slugs, now=False)
    grown = sorted(pk for pk, delta in stock_deltas.items() if delta > 0)  # a sale cannot bring a piece back
    if grown:
        variant_stock_changed.send(sender=ProductVariant, variant_ids=grown, using=using)


class StockAdjustmentError(Exception):
    """A stock change the shop refuses; ``str(error)`` is safe to show staff. Nothing was changed."""


def variant_stock_adjust(
    *, variant_id: int, change: int, reason: str, actor=None, note: str = "", using: str = DEFAULT_DB_ALIAS
) -> StockAdjustment:
    """Add ``change`` pieces (negative: take away) to a variant's stock under its row lock, and record it.

    The change is applied with F() to the stock as it is at that moment, never to a value read when a
    page was loaded, so a sale in between is kept. Raises ``StockAdjustmentError`` below zero."""
    if not change:
        raise StockAdjustmentError("A stock change of 0 changes nothing.")
    if reason not in StockReason.values:
        raise StockAdjustmentError("Please say why the stock changes.")
    with transaction.atomic(using=using):
        variants = ProductVariant.objects.using(using)
        before = variants.select_for_update().filter(pk=variant_id).values_list("stock", flat=True).first()
        if before is None:
            raise StockAdjustmentError("This variant no longer exists.")
        if before + change < 0:
            raise StockAdjustmentError(f"Stock is now {before}: a change of {change:+d} would take it below zero.")
        variant_stock_move(deltas={variant_id: change}, using=using)
        adjustment = StockAdjustment.objects.using(using).create(
            variant_id=variant_id,
            change=change,
            stock_before=before,
            stock_after=before + change,
            reason=reason,
            note=note[:200],
            actor=actor if actor is not None and actor.is_authenticated else None,
        )
    return adjustment
