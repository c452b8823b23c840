"""Catalogue operations with rules: the CSV product import (staff bulk updates of variants, prices and stock),
and product images (validation, re-encoding, renditions and storage; the section at the end of the file)."""

import csv
import io
import posixpath
import re
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import partial
from typing import IO

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import F, Max, Min, OuterRef, Q, Subquery, Sum

from .cache import catalog_changed, catalog_version_bump, product_stock_bump
from .events import variant_stock_changed
from .images import ImageRejectedError, ProcessedImage, image_check_size, image_process, renditions_from_master
from .models import (
    LOW_STOCK_CARD,
    Category,
    Gemstone,
    Metal,
    Product,
    ProductImage,
    ProductVariant,
    StockAdjustment,
    StockReason,
)
from .storage import object_read, objects_delete, objects_save, upload_delete, upload_read

IMPORT_REQUIRED_COLUMNS = ("sku", "product_slug", "metal", "price", "stock")
IMPORT_OPTIONAL_COLUMNS = (
    "product_name",
    "category_slug",
    "gemstone",
    "ring_size",
    "low_stock_threshold",
    "description",
    "is_active",
)
IMPORT_COLUMNS = IMPORT_REQUIRED_COLUMNS + IMPORT_OPTIONAL_COLUMNS
# Product-level columns: every row of one product must agree on them (blank means "not given").
PRODUCT_COLUMNS = ("product_name", "category_slug", "gemstone", "description")
MAX_PRICE = Decimal("99999999.99")  # what DecimalField(max_digits=10, decimal_places=2) holds
TRUE_WORDS = {"1", "true", "yes", "y"}
FALSE_WORDS = {"0", "false", "no", "n"}
NO_STONE = "none"
_SLUG = re.compile(r"[-a-zA-Z0-9_]+")


@dataclass
class ImportRowError:
    row: int
    message: str

    def __str__(self) -> str:
        return f"Row {self.row}: {self.message}"


@dataclass
class ImportResult:
    dry_run: bool = False
    products_created: int = 0
    products_updated: int = 0
    products_unchanged: int = 0
    variants_created: int = 0
    variants_updated: int = 0
    variants_unchanged: int = 0
    errors: list[ImportRowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass
class _VariantRow:
    row: int
    sku: str
    product_slug: str
    metal: str
    price: Decimal
    stock: int
    ring_size: str
    low_stock_threshold: int | None
    is_active: bool | None


@dataclass
class _ProductPlan:
    slug: str
    first_row: int
    values: dict[str, str] = field(default_factory=dict)  # product-level columns given (non-blank)
    metal: str = ""  # main metal for a new product: its first row's metal
    variants: list[_VariantRow] = field(default_factory=list)
    value_rows: dict[str, int] = field(default_factory=dict)  # the row each product-level value came from


def _metal_value(raw: str) -> str | None:
    """Accept the stored value or the label, any case: 'rose-gold' or 'Rose gold'."""
    wanted = raw.strip().lower()
    for value, label in Metal.choices:
        if wanted in (value, label.lower()):
            return value
    return None


def _gemstone_value(raw: str) -> str | None:
    wanted = raw.strip().lower()
    if wanted == NO_STONE:
        return Gemstone.NONE
    for value, label in Gemstone.choices:
        if value and wanted in (value, label.lower()):
            return value
    return None


def _parse_bool(raw: str) -> bool | None:
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError


def _parse_row(number: int, row: dict[str, str], errors: list[ImportRowError]) -> _VariantRow | None:
    """Check one row's own values (no database look-ups); record every problem found."""
    found: list[str] = []
    for column in IMPORT_REQUIRED_COLUMNS:
        if not row[column]:
            found.append(f"{column} is required.")
    sku, slug, ring_size = row["sku"], row["product_slug"], row["ring_size"]
    if len(sku) > ProductVariant._meta.get_field("sku").max_length:
        found.append(f"sku '{sku}' is longer than 64 characters.")
    if slug:
        try:
            validate_slug(slug)
        except ValidationError:
            found.append(f"product_slug '{slug}' may contain only letters, numbers, hyphens and underscores.")
    if len(ring_size) > ProductVariant._meta.get_field("ring_size").max_length:
        found.append(f"ring_size '{ring_size}' is longer than 8 characters.")
    if len(row["product_name"]) > Product._meta.get_field("name").max_length:
        found.append("product_name is longer than 200 characters.")
    metal = _metal_value(row["metal"]) if row["metal"] else ""
    if metal is None:
        found.append(f"unknown metal '{row['metal']}' (use one of: {', '.join(Metal.values)}).")
    if row["gemstone"] and _gemstone_value(row["gemstone"]) is None:
        stones = ", ".join(v for v in Gemstone.values if v)
        found.append(f"unknown gemstone '{row['gemstone']}' (use one of: {stones}, or '{NO_STONE}').")
    price = _parse_price(row["price"], found) if row["price"] else None
    stock = _parse_count("stock", row["stock"], found) if row["stock"] else None
    threshold = _parse_count("low_stock_threshold", row["low_stock_threshold"], found)
    is_active = None
    if row["is_active"]:
        try:
            is_active = _parse_bool(row["is_active"])
        except ValueError:
            found.append(f"is_active '{row['is_active']}' is not one of yes/no, true/false, 1/0.")
    errors.extend(ImportRowError(number, message) for message in found)
    if found:
        return None
    return _VariantRow(number, sku, slug, metal, price, stock, ring_size, threshold, is_active)


def _parse_price(raw: str, found: list[str]) -> Decimal | None:
    try:
        price = Decimal(raw)
    except InvalidOperation:
        symbol = settings.SHOP_CURRENCY_SYMBOL
        found.append(f"price '{raw}' is not a decimal number (write 1250.00, without {symbol} or commas).")
        return None
    if not price.is_finite() or price <= 0:
        found.append(f"price '{raw}' must be greater than 0.")
    elif price.as_tuple().exponent < -2:
        found.append(f"price '{raw}' has more than 2 decimal places.")
    elif price > MAX_PRICE:
        found.append(f"price '{raw}' is too large.")
    else:
        return price.quantize(Decimal("0.01"))
    return None


def _parse_count(column: str, raw: str, found: list[str]) -> int | None:
    if not raw:
        return None
    try:
        number = int(raw)
    except ValueError:
        found.append(f"{column} '{raw}' is not a whole number.")
        return None
    if number < 0:
        found.append(f"{column} '{raw}' cannot be negative.")
        return None
    return number


def _read_rows(file: IO[bytes] | IO[str], errors: list[ImportRowError]) -> list[tuple[int, dict[str, str]]]:
    """Decode (UTF-8, with or without a BOM), check the header and return (row number, cleaned row) pairs.

    Row numbers are what a spreadsheet shows: the header is row 1, the first product row is row 2.
    """
    wrapped = isinstance(file.read(0), bytes)
    text = io.TextIOWrapper(file, encoding="utf-8-sig", newline="") if wrapped else file
    try:
        reader = csv.DictReader(text)
        header = [(name or "").strip().lstrip("\ufeff").lower() for name in (reader.fieldnames or [])]
        if not header:
            errors.append(ImportRowError(1, "the file is empty; the first row must name the columns."))
            return []
        reader.fieldnames = header
        missing = [column for column in IMPORT_REQUIRED_COLUMNS if column not in header]
        unknown = [column for column in header if column not in IMPORT_COLUMNS]
        if missing:
            errors.append(ImportRowError(1, f"missing column(s): {', '.join(missing)}."))
        if unknown:
            allowed = ", ".join(IMPORT_COLUMNS)
            errors.append(ImportRowError(1, f"unknown column(s): {', '.join(unknown)} (allowed: {allowed})."))
        if missing or unknown:
            return []
        rows = []
        for number, raw in enumerate(reader, start=2):
            if None in raw:
                errors.append(ImportRowError(number, "the row has more values than the header has columns."))
                continue
            cleaned = {column: (raw.get(column) or "").strip() for column in IMPORT_COLUMNS}
            if any(cleaned.values()):  # a blank line at the end of a spreadsheet export is not an error
                rows.append((number, cleaned))
        return rows
    except UnicodeDecodeError:
        errors.append(ImportRowError(1, "the file is not UTF-8 text; save it as 'CSV UTF-8'."))
        return []
    except csv.Error as exc:
        errors.append(ImportRowError(1, f"the file is not valid CSV ({exc})."))
        return []
    finally:
        if wrapped:
            text.detach()  # leave the caller's file open; it is theirs to close


def _plan_products(
    rows: list[tuple[int, dict[str, str]]], errors: list[ImportRowError]
) -> tuple[dict[str, _ProductPlan], list[_VariantRow]]:
    """Group rows by product, checking in-file duplicates and product-level agreement.

    A row with problems of its own still counts for its product's columns, so the database checks
    (unknown category, a new product's missing name) report on it in the same pass.
    """
    plans: dict[str, _ProductPlan] = {}
    variants: list[_VariantRow] = []
    first_row_of_sku: dict[str, int] = {}
    for number, row in rows:
        parsed = _parse_row(number, row, errors)
        sku = row["sku"]
        if sku:
            if sku in first_row_of_sku:
                first = first_row_of_sku[sku]
                errors.append(ImportRowError(number, f"duplicate SKU '{sku}' (first seen on row {first})."))
                parsed = None
            else:
                first_row_of_sku[sku] = number
        slug = row["product_slug"]
        if not _SLUG.fullmatch(slug):
            continue
        metal = parsed.metal if parsed else (_metal_value(row["metal"]) or "")
        plan = plans.setdefault(slug, _ProductPlan(slug, number, metal=metal))
        for column in PRODUCT_COLUMNS:
            value = row[column]
            if not value:
                continue
            if column in plan.values and plan.values[column] != value:
                errors.append(
                    ImportRowError(
                        number,
                        f"product '{plan.slug}' has {column} '{value}' here but '{plan.values[column]}' "
                        f"on row {plan.first_row}; rows of one product must agree.",
                    )
                )
            plan.values.setdefault(column, value)
            plan.value_rows.setdefault(column, number)
        if parsed is not None:
            plan.variants.append(parsed)
            variants.append(parsed)
    return plans, variants


def _check_against_database(
    plans: dict[str, _ProductPlan],
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


def _product_changes(plan: _ProductPlan, categories: dict[str, Category]) -> dict[str, object]:
    changes: dict[str, object] = {}
    if "product_name" in plan.values:
        changes["name"] = plan.values["product_name"]
    if "category_slug" in plan.values:
        changes["category"] = categories[plan.values["category_slug"]]
    if "gemstone" in plan.values:
        changes["gemstone"] = _gemstone_value(plan.values["gemstone"])
    if "description" in plan.values:
        changes["description"] = plan.values["description"]
    return changes


def _variant_changes(variant: _VariantRow) -> dict[str, object]:
    changes: dict[str, object] = {
        "metal": variant.metal,
        "price": variant.price,
        "stock": variant.stock,
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
    plans: dict[str, _ProductPlan],
    products: dict[str, Product],
    existing: dict[str, ProductVariant],
    categories: dict[str, Category],
    result: ImportResult,
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
            _apply_variant(product, variant, existing.get(variant.sku), position, result)


def _apply_variant(
    product: Product, row: _VariantRow, current: ProductVariant | None, position: int, result: ImportResult
) -> None:
    changes = _variant_changes(row)
    if current is None:
        result.variants_created += 1
        if not result.dry_run:
            ProductVariant.objects.create(product=product, sku=row.sku, position=position, **changes)
    elif _differs(current, changes):
        result.variants_updated += 1
        if not result.dry_run:
            for name, value in changes.items():
                setattr(current, name, value)
            current.save()
    else:
        result.variants_unchanged += 1


def product_import_csv(*, file: IO[bytes] | IO[str], dry_run: bool = False) -> ImportResult:
    """Create or update products and variants from a CSV (one row per variant, keyed by SKU).

    Every row is validated before anything is written; one invalid row means nothing is imported.
    """
    result = ImportResult(dry_run=dry_run)
    _import(file, result)
    result.errors.sort(key=lambda error: error.row)
    return result


def _import(file: IO[bytes] | IO[str], result: ImportResult) -> None:
    rows = _read_rows(file, result.errors)
    plans, _ = _plan_products(rows, result.errors)
    # Every row with a SKU, valid or not, is checked against the database in the same pass.
    refs = [(number, row["sku"], row["product_slug"]) for number, row in rows if row["sku"]]
    if not rows and not result.errors:
        result.errors.append(ImportRowError(2, "the file has a header but no product rows."))
    if not plans:
        return
    with transaction.atomic():
        # Locked so a concurrent import or admin edit cannot slip between our checks and our writes.
        existing = {
            v.sku: v
            for v in ProductVariant.objects.select_for_update(of=("self",))
            .select_related("product")
            .filter(sku__in=[sku for _, sku, _ in refs])
        }
        products = {p.slug: p for p in Product.objects.select_for_update().filter(slug__in=list(plans))}
        wanted_categories = {p.values["category_slug"] for p in plans.values() if "category_slug" in p.values}
        categories = {c.slug: c for c in Category.objects.filter(slug__in=wanted_categories)}
        _check_against_database(plans, refs, products, existing, categories, result.errors)
        if result.errors:
            return
        _apply(plans, products, existing, categories, result)


# =====================================================================================================
# The listing summary (issue #7, helper I): each product's price range over its active variants,
# stored on the product so shop pages sort and filter one indexed table. catalog.signals calls this
# on every variant save/delete; bulk writers (bulk_create, queryset.update) call it themselves.
# =====================================================================================================


def product_listing_refresh(*, product_ids: Iterable[int] | None, using: str = DEFAULT_DB_ALIAS) -> int:
    """Recompute ``price_from``/``price_to`` from the active variants of these products (all when None).

    One UPDATE with correlated subqueries, so it is right whatever this process holds in memory; then
    the cached catalogue fragments are made obsolete. Returns the number of products written."""
    active = ProductVariant.objects.filter(product=OuterRef("pk"), is_active=True).order_by().values("product")
    price = Product._meta.get_field("price_from")
    products = Product.objects.using(using).all()
    if product_ids is not None:
        ids = sorted({int(pk) for pk in product_ids})
        if not ids:
            return 0
        products = products.filter(pk__in=ids)
    updated = products.update(
        price_from=Subquery(active.annotate(value=Min("price")).values("value"), output_field=price),
        price_to=Subquery(active.annotate(value=Max("price")).values("value"), output_field=price),
    )
    catalog_changed(using=using)
    return updated


def catalog_stock_changed(*, stock_deltas: Mapping[int, int], using: str = DEFAULT_DB_ALIAS) -> None:
    """Schedule, for after commit, what stock sold or returned by orders makes obsolete in the cache.

    Call inside the transaction, after ``queryset.update()`` changed these variants' stock by these
    amounts (update() sends no signal). A product page shows each variant's stock, so the page of
    every touched product changes. A product card shows stock only as "Only N left" or "Sold out",
    at a total of LOW_STOCK_CARD or less, so every grid (the whole catalogue version) changes only
    when a total was or now is in that range: an ordinary sale leaves the cached listings in place."""
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
    if cards_change:
        transaction.on_commit(catalog_version_bump, using=using, robust=True)
    elif slugs:
        transaction.on_commit(partial(product_stock_bump, slugs=sorted(slugs)), using=using, robust=True)
    # Apps above catalog (back-in-stock alerts) hear here of stock that grew (a sale cannot bring a piece
    # back), and from catalog.signals of every saved variant.
    grown = sorted(pk for pk, delta in stock_deltas.items() if delta > 0)
    if grown:
        variant_stock_changed.send(sender=ProductVariant, variant_ids=grown, using=using)


# --- Staff stock adjustments (issue 15): the one way staff change stock --------------------------------


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
        variants.filter(pk=variant_id).update(stock=F("stock") + change)
        adjustment = StockAdjustment.objects.using(using).create(
            variant_id=variant_id,
            change=change,
            stock_before=before,
            stock_after=before + change,
            reason=reason,
            note=note[:200],
            actor=actor if actor is not None and actor.is_authenticated else None,
        )
        catalog_stock_changed(stock_deltas={variant_id: change}, using=using)
    return adjustment


# =====================================================================================================
# Product images (issue #5, helper E). Every photo, uploaded through Django or sent straight to S3,
# goes through catalog.images (Pillow validation, re-encoding without metadata, renditions) and is
# written through catalog.storage (local disk or the S3 bucket). Call these outside a transaction:
# they write to storage first and then commit the row, removing what they wrote if the row fails.
# =====================================================================================================


def product_image_create(
    *,
    product: Product,
    file: IO[bytes],
    alt_text: str,
    variant: ProductVariant | None = None,
    position: int = 0,
) -> ProductImage:
    """Validate, re-encode and store an uploaded photo with its renditions, and record it."""
    alt_text = _image_fields_clean(product=product, alt_text=alt_text, variant=variant)
    size = getattr(file, "size", None)
    if size is not None:
        image_check_size(size)  # refuse before reading a byte
    data = file.read(settings.IMAGE_UPLOAD_MAX_BYTES + 1)
    processed = image_process(data)
    return _product_image_store(
        product=product, processed=processed, alt_text=alt_text, variant=variant, position=position
    )


def product_image_create_from_processed(
    *,
    product: Product,
    processed: ProcessedImage,
    alt_text: str,
    variant: ProductVariant | None = None,
    position: int = 0,
) -> ProductImage:
    """Store and record a photo already validated and re-encoded by catalog.images.image_process.

    The storing half of product_image_create, for callers that do the CPU work elsewhere (the demo
    loader prepares photos in worker processes and stores them here, in its own process)."""
    alt_text = _image_fields_clean(product=product, alt_text=alt_text, variant=variant)
    return _product_image_store(
        product=product, processed=processed, alt_text=alt_text, variant=variant, position=position
    )


def product_image_create_from_upload(
    *,
    product: Product,
    upload_key: str,
    alt_text: str,
    variant: ProductVariant | None = None,
    position: int = 0,
) -> ProductImage:
    """The same for a file the browser sent straight to S3 under uploads/; the raw upload is removed."""
    alt_text = _image_fields_clean(product=product, alt_text=alt_text, variant=variant)
    data = upload_read(key=upload_key)
    try:
        processed = image_process(data)
    except ImageRejectedError:
        upload_delete(key=upload_key)
        raise
    image = _product_image_store(
        product=product, processed=processed, alt_text=alt_text, variant=variant, position=position
    )
    upload_delete(key=upload_key)
    return image


def product_image_rebuild_renditions(*, image: ProductImage) -> ProductImage:
    """Make the renditions again from the stored master (new keys, so cached copies never go stale)."""
    width, height, renditions = renditions_from_master(object_read(image.image.name))
    folder = posixpath.dirname(image.image.name)
    token = uuid.uuid4().hex[:8]
    files = [(f"{folder}/w{r.width}-{token}.{r.extension}", r.data, r.content_type) for r in renditions]
    names = objects_save(files)
    old_names = image.rendition_names
    try:
        with transaction.atomic():
            image.width, image.height = width, height
            image.renditions = _rendition_records(renditions, names)
            image.save(update_fields=["width", "height", "renditions"])
    except BaseException:
        objects_delete(names)
        raise
    transaction.on_commit(lambda: objects_delete(old_names))
    return image


def product_image_delete(*, image: ProductImage) -> None:
    """Delete the row; its stored files go once that commits (catalog.signals, as for any row deletion)."""
    image.delete()


def product_image_files_delete(*, names: Iterable[str], using: str = DEFAULT_DB_ALIAS) -> None:
    """Remove stored photo files that no ProductImage row refers to any more, as master or rendition.

    Runs after the deleting transaction commits, so the check sees what stays (loaders such as
    bench/catalog_data.py point many rows at one file). One query for the whole batch of names.
    """
    wanted = {name for name in names if name}
    if not wanted:
        return
    if connections[using].features.supports_json_field_contains:  # Postgres: exact jsonb containment
        in_renditions = [Q(renditions__contains=[{"name": name}]) for name in wanted]
    else:  # SQLite (local runs): a text match that can only over-select; the exact check is below
        in_renditions = [Q(renditions__icontains=name) for name in wanted]
    still_used: set[str] = set()
    referring = ProductImage.objects.using(using).filter(Q(image__in=wanted) | Q(*in_renditions, _connector=Q.OR))
    for image, renditions in referring.values_list("image", "renditions"):
        still_used.add(image)
        still_used.update(r.get("name") for r in renditions or [] if isinstance(r, dict))
    objects_delete(sorted(wanted - still_used))


def _image_fields_clean(*, product: Product, alt_text: str, variant: ProductVariant | None) -> str:
    alt_text = (alt_text or "").strip()
    if not alt_text:
        raise ValidationError({"alt_text": "Describe the photo for shoppers using screen readers."})
    if len(alt_text) > ProductImage._meta.get_field("alt_text").max_length:
        raise ValidationError({"alt_text": "Keep the description under 200 characters."})
    if variant is not None and variant.product_id != product.pk:
        raise ValidationError({"variant": "Choose a variant of this product."})
    return alt_text


def _rendition_records(renditions: list, names: list[str]) -> list[dict]:
    return [
        {"width": r.width, "height": r.height, "format": r.format, "name": name, "bytes": len(r.data)}
        for r, name in zip(renditions, names, strict=True)
    ]


def _product_image_store(
    *, product: Product, processed: ProcessedImage, alt_text: str, variant: ProductVariant | None, position: int
) -> ProductImage:
    """Write master and renditions under a fresh key, then the row; nothing is left behind on failure."""
    folder = f"products/{product.slug}/{uuid.uuid4().hex}"
    master = processed.master
    files = [(f"{folder}/original.{master.extension}", master.data, master.content_type)]
    files += [(f"{folder}/w{r.width}.{r.extension}", r.data, r.content_type) for r in processed.renditions]
    names = objects_save(files)
    try:
        with transaction.atomic():
            image = ProductImage(
                product=product,
                variant=variant,
                image=names[0],
                width=master.width,
                height=master.height,
                alt_text=alt_text,
                position=position,
                renditions=_rendition_records(processed.renditions, names[1:]),
            )
            image.save()
    except BaseException:
        objects_delete(names)
        raise
    return image
