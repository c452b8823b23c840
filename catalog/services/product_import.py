"""The CSV product import: staff's bulk creates and updates of products, variants, prices and stock.

One row per variant, keyed by SKU. Every row is validated (and checked against the database) before
anything is written; one invalid row means nothing is imported, and every problem of every row is
reported in one pass. Writes go through save(), so catalog.signals keeps price ranges, cache versions
and back-in-stock alerts in step.

Stock is never set from the sheet: the difference between the sheet's count and the stock as it is
under the variant's row lock is recorded as a recount (catalog.services.stock.variant_stock_adjust, a
StockAdjustment with before and after), and a new variant's count as its opening stock. So a piece sold
after the sheet was exported and then "recounted" back is in the stock history and in the report.
Products and then variants are locked, each in pk order: the order of the admin's product page and of a
checkout (which locks only variants), so the import deadlocks with neither.
"""

from dataclasses import dataclass, field
from typing import IO

from django.db import transaction

from ..models import Category, Product, ProductVariant, StockReason
from .import_rows import ImportRowError, ProductPlan, VariantRow, gemstone_value, products_plan, rows_read
from .stock import variant_stock_adjust


@dataclass
class ImportResult:
    dry_run: bool = False
    products_created: int = 0
    products_updated: int = 0
    products_unchanged: int = 0
    variants_created: int = 0
    variants_updated: int = 0
    variants_unchanged: int = 0
    # One line per stock change recorded (or, dry-running, to be recorded): "SKU: 1 → 2 (+1)".
    stock_changes: list[str] = field(default_factory=list)
    errors: list[ImportRowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def _check_against_database(
    plans: dict[str, ProductPlan],
    variants: list[tuple[int, str, str]],
    products: dict[str, Product],
    existing: dict[str, ProductVariant],
    categories: dict[str, Category],
    errors: list[ImportRowError],
) -> None:
    valid = ", ".join(sorted(Category.objects.values_list("slug", flat=True))) or "none yet: add one in the admin"
    for plan in plans.values():
        category_slug = plan.values.get("category_slug")
        if category_slug and category_slug not in categories:
            errors.append(
                ImportRowError(
                    plan.value_rows["category_slug"],
                    f"unknown category_slug '{category_slug}' (valid category slugs: {valid}).",
                )
            )
        if plan.slug not in products:
            for column in ("product_name", "category_slug"):
                if column not in plan.values:
                    errors.append(
                        ImportRowError(plan.first_row, f"{column} is required for the new product '{plan.slug}'.")
                    )
    for row, sku, product_slug in variants:
        current = existing.get(sku)
        if current is not None and product_slug and current.product.slug != product_slug:
            errors.append(
                ImportRowError(
                    row,
                    f"SKU '{sku}' belongs to product '{current.product.slug}', not '{product_slug}'; "
                    "moving a variant to another product is not supported.",
                )
            )


def _product_changes(plan: ProductPlan, categories: dict[str, Category]) -> dict[str, object]:
    changes: dict[str, object] = {}
    if "product_name" in plan.values:
        changes["name"] = plan.values["product_name"]
    if "category_slug" in plan.values:
        changes["category"] = categories[plan.values["category_slug"]]
    if "gemstone" in plan.values:
        changes["gemstone"] = gemstone_value(plan.values["gemstone"])
    if "description" in plan.values:
        changes["description"] = plan.values["description"]
    return changes


def _variant_changes(variant: VariantRow) -> dict[str, object]:
    changes: dict[str, object] = {
        "metal": variant.metal,
        "price": variant.price,
        "ring_size": variant.ring_size,
    }
    if variant.low_stock_threshold is not None:
        changes["low_stock_threshold"] = variant.low_stock_threshold
    if variant.is_active is not None:
        changes["is_active"] = variant.is_active
    return changes


def _differs(instance: object, changes: dict[str, object]) -> bool:
    return any(getattr(instance, name) != value for name, value in changes.items())


def _apply(
    plans: dict[str, ProductPlan],
    products: dict[str, Product],
    existing: dict[str, ProductVariant],
    categories: dict[str, Category],
    result: ImportResult,
    actor,
) -> None:
    """Count (and unless dry-running, write) every create and update; callers hold a transaction."""
    write = not result.dry_run
    for plan in plans.values():
        changes = _product_changes(plan, categories)
        product = products.get(plan.slug)
        if product is None:
            result.products_created += 1
            # Hidden until staff publish it (with a photo): a new piece never goes live as a placeholder.
            product = Product(slug=plan.slug, metal=plan.metal, is_active=False, **changes)
            if write:
                product.save()
        elif _differs(product, changes):
            result.products_updated += 1
            if write:
                for name, value in changes.items():
                    setattr(product, name, value)
                product.save()
        else:
            result.products_unchanged += 1
        for position, variant in enumerate(plan.variants):
            _apply_variant(product, variant, existing.get(variant.sku), position, result, actor)


def _apply_variant(
    product: Product, row: VariantRow, current: ProductVariant | None, position: int, result: ImportResult, actor
) -> None:
    changes = _variant_changes(row)
    if current is None:
        result.variants_created += 1
        # A new variant starts at 0 (the model's default); its count from the sheet is its opening stock.
        variant = (
            None
            if result.dry_run
            else ProductVariant.objects.create(product=product, sku=row.sku, position=position, **changes)
        )
        _stock_record(variant, row, before=0, reason=StockReason.OPENING, result=result, actor=actor)
        return
    changed = [name for name, value in changes.items() if getattr(current, name) != value]
    if not changed and current.stock == row.stock:
        result.variants_unchanged += 1
        return
    result.variants_updated += 1
    if changed and not result.dry_run:
        for name in changed:
            setattr(current, name, changes[name])
        current.save(update_fields=changed)  # never stock: that is recorded below
    # current.stock was read under the row lock this import holds: it is the stock now, sales included.
    variant = None if result.dry_run else current
    _stock_record(variant, row, before=current.stock, reason=StockReason.RECOUNT, result=result, actor=actor)


def _stock_record(
    variant: ProductVariant | None, row: VariantRow, *, before: int, reason: str, result: ImportResult, actor
) -> None:
    """Record the sheet's count as a stock change against ``before`` (none if they agree; only counted
    when ``variant`` is None, a dry run)."""
    change = row.stock - before
    if not change:
        return
    result.stock_changes.append(f"{row.sku}: {before} → {row.stock} ({change:+d})")
    if variant is not None:
        note = "opening stock from import" if reason == StockReason.OPENING else "recount from import"
        variant_stock_adjust(variant_id=variant.pk, change=change, reason=reason, actor=actor, note=note)


def product_import_csv(*, file: IO[bytes] | IO[str], dry_run: bool = False, actor=None) -> ImportResult:
    """Create or update products and variants from a CSV (one row per variant, keyed by SKU).

    Every row is validated before anything is written; one invalid row means nothing is imported.
    Stock differences are recorded as recounts by ``actor`` (None: the command line).
    """
    result = ImportResult(dry_run=dry_run)
    _import(file, result, actor)
    result.errors.sort(key=lambda error: error.row)
    return result


def _import(file: IO[bytes] | IO[str], result: ImportResult, actor) -> None:
    rows = rows_read(file, result.errors)
    plans, _ = products_plan(rows, result.errors)
    # Every row with a SKU, valid or not, is checked against the database in the same pass.
    # (Not a SKU with NUL: Postgres text cannot hold one, and the row's own check has reported it.)
    refs = [
        (number, row["sku"], row["product_slug"]) for number, row in rows if row["sku"] and "\x00" not in row["sku"]
    ]
    if not rows and not result.errors:
        result.errors.append(ImportRowError(2, "the file has a header but no product rows."))
    if not plans:
        return
    with transaction.atomic():
        # Locked so a concurrent import, admin edit or sale cannot slip between our checks and our writes.
        # Products before variants, as the admin's product page writes them (the product, then its variant
        # rows), each in pk order as a checkout locks variants (orders.services.variants_locked; a checkout
        # never locks a product): the old variants-first order deadlocked with a staff product edit.
        products = {p.slug: p for p in Product.objects.select_for_update().filter(slug__in=list(plans)).order_by("pk")}
        existing = {
            v.sku: v
            for v in ProductVariant.objects.select_for_update(of=("self",))
            .select_related("product")
            .filter(sku__in=[sku for _, sku, _ in refs])
            .order_by("pk")
        }
        wanted_categories = {p.values["category_slug"] for p in plans.values() if "category_slug" in p.values}
        categories = {c.slug: c for c in Category.objects.filter(slug__in=wanted_categories)}
        _check_against_database(plans, refs, products, existing, categories, result.errors)
        if result.errors:
            return
        _apply(plans, products, existing, categories, result, actor)
