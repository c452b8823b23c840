"""The import CSV read and checked row by row, before anything touches the database.

Turns the file into one plan per product (its product-level values and its variant rows), collecting
every problem of every row (ImportRowError) so staff fix them all in one go. catalog.services.
product_import checks the plans against the database and writes them.
"""

import csv
import io
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import IO

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_slug

from shop_text import text_one_line_check

from ..models import Gemstone, Metal, Product, ProductVariant

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
class VariantRow:
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
class ProductPlan:
    slug: str
    first_row: int
    values: dict[str, str] = field(default_factory=dict)  # product-level columns given (non-blank)
    metal: str = ""  # main metal for a new product: its first row's metal
    variants: list[VariantRow] = field(default_factory=list)
    value_rows: dict[str, int] = field(default_factory=dict)  # the row each product-level value came from


def _metal_value(raw: str) -> str | None:
    """Accept the stored value or the label, any case: 'rose-gold' or 'Rose gold'."""
    wanted = raw.strip().lower()
    for value, label in Metal.choices:
        if wanted in (value, label.lower()):
            return value
    return None


def gemstone_value(raw: str) -> str | None:
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


def _parse_row(number: int, row: dict[str, str], errors: list[ImportRowError]) -> VariantRow | None:
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
    # The one-line rule the model fields carry (shop_text): the import refuses what the admin refuses.
    for column in ("sku", "ring_size", "product_name"):
        try:
            text_one_line_check(row[column])
        except ValidationError as error:
            found.append(f"{column}: {error.messages[0]}")
    metal = _metal_value(row["metal"]) if row["metal"] else ""
    if metal is None:
        found.append(f"unknown metal '{row['metal']}' (use one of: {', '.join(Metal.values)}).")
    if row["gemstone"] and gemstone_value(row["gemstone"]) is None:
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
    return VariantRow(number, sku, slug, metal, price, stock, ring_size, threshold, is_active)


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


def rows_read(file: IO[bytes] | IO[str], errors: list[ImportRowError]) -> list[tuple[int, dict[str, str]]]:
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


def products_plan(
    rows: list[tuple[int, dict[str, str]]], errors: list[ImportRowError]
) -> tuple[dict[str, ProductPlan], list[VariantRow]]:
    """Group rows by product, checking in-file duplicates and product-level agreement.

    A row with problems of its own still counts for its product's columns, so the database checks
    (unknown category, a new product's missing name) report on it in the same pass.
    """
    plans: dict[str, ProductPlan] = {}
    variants: list[VariantRow] = []
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
        plan = plans.setdefault(slug, ProductPlan(slug, number, metal=metal))
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
