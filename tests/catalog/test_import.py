"""The CSV product import: create and update by SKU, dry run, and every way a file can be wrong."""

from decimal import Decimal
from io import BytesIO, StringIO

import pytest
from django.core.management import CommandError, call_command

from catalog.models import Category, Gemstone, Metal, Product, ProductVariant
from catalog.services.product_import import product_import_csv
from tests.factories import CategoryFactory, ProductFactory, ProductVariantFactory

pytestmark = pytest.mark.django_db

HEADER = (
    "sku,product_slug,product_name,category_slug,metal,gemstone,ring_size,price,stock,"
    "low_stock_threshold,description,is_active"
)
GOOD_ROWS = [
    "SOL-YG-L,solstice-ring,Solstice Ring,rings,yellow-gold,diamond,L,1850.00,3,1,A single diamond.,yes",
    "SOL-YG-N,solstice-ring,,,yellow-gold,,N,1850.00,0,,,",
    "SOL-PT-L,solstice-ring,,,Platinum,,L,2300,1,2,,true",
    'TIDE-SV,tide-pendant,Tide Pendant,necklaces,silver,pearl,,165.50,12,,"A pearl, on a chain.",',
]


@pytest.fixture(autouse=True)
def categories():
    CategoryFactory(slug="rings", name="Rings")
    CategoryFactory(slug="necklaces", name="Necklaces")


def csv_bytes(*rows: str, header: str = HEADER, bom: bool = False) -> BytesIO:
    text = "\r\n".join([header, *rows]) + "\r\n"
    return BytesIO(("\ufeff" if bom else "").encode() + text.encode("utf-8"))


def run_command(tmp_path, *rows: str, dry_run: bool = False, header: str = HEADER) -> str:
    path = tmp_path / "products.csv"
    path.write_bytes(csv_bytes(*rows, header=header, bom=True).getvalue())
    out = StringIO()
    call_command("import_products", str(path), *(["--dry-run"] if dry_run else []), stdout=out, stderr=StringIO())
    return out.getvalue()


def test_import_creates_products_and_variants_from_a_bom_file(tmp_path):
    output = run_command(tmp_path, *GOOD_ROWS)

    assert "Products: 2 created, 0 updated, 0 unchanged. Variants: 4 created, 0 updated, 0 unchanged." in output
    ring = Product.objects.get(slug="solstice-ring")
    assert (ring.name, ring.category.slug, ring.metal, ring.gemstone) == (
        "Solstice Ring",
        "rings",
        Metal.YELLOW_GOLD,
        Gemstone.DIAMOND,
    )
    assert ring.description == "A single diamond."
    assert list(ring.variants.values_list("sku", "metal", "ring_size", "price", "stock", "low_stock_threshold")) == [
        ("SOL-YG-L", "yellow-gold", "L", Decimal("1850.00"), 3, 1),
        ("SOL-YG-N", "yellow-gold", "N", Decimal("1850.00"), 0, 1),
        ("SOL-PT-L", "platinum", "L", Decimal("2300.00"), 1, 2),
    ]
    pendant = ProductVariant.objects.get(sku="TIDE-SV")
    assert pendant.price == Decimal("165.50")
    assert pendant.product.description == "A pearl, on a chain."
    assert pendant.product.gemstone == Gemstone.PEARL


def test_import_updates_by_sku_and_leaves_blank_fields_alone():
    variant = ProductVariantFactory(
        sku="SOL-YG-L", product__slug="solstice-ring", product__name="Old name", price=Decimal("100.00"), stock=9
    )
    ProductVariantFactory(sku="UNTOUCHED", product=variant.product)
    old_category = variant.product.category

    result = product_import_csv(
        file=csv_bytes(
            "SOL-YG-L,solstice-ring,,,yellow-gold,,L,1900.00,2,,,no",
            "SOL-YG-P,solstice-ring,,,yellow-gold,,P,1900,1,,,",
        )
    )

    assert result.ok, result.errors
    assert (result.products_created, result.products_updated, result.products_unchanged) == (0, 0, 1)
    assert (result.variants_created, result.variants_updated) == (1, 1)
    variant.refresh_from_db()
    assert (variant.price, variant.stock, variant.is_active, variant.ring_size) == (Decimal("1900.00"), 2, False, "L")
    assert variant.product.name == "Old name"
    assert variant.product.category == old_category
    assert ProductVariant.objects.get(sku="UNTOUCHED").stock == 3
    assert Product.objects.count() == 1


def test_reimporting_the_same_file_reports_everything_unchanged():
    assert product_import_csv(file=csv_bytes(*GOOD_ROWS)).ok
    result = product_import_csv(file=csv_bytes(*GOOD_ROWS))
    assert (result.products_unchanged, result.variants_unchanged) == (2, 4)
    assert result.products_created == result.products_updated == result.variants_created == result.variants_updated == 0


def test_product_fields_update_when_given():
    ProductVariantFactory(sku="SOL-YG-L", product__slug="solstice-ring", product__name="Old name")
    result = product_import_csv(
        file=csv_bytes("SOL-YG-L,solstice-ring,New name,necklaces,yellow-gold,none,L,250.00,3,,New text,")
    )
    assert result.products_updated == 1
    product = Product.objects.get(slug="solstice-ring")
    assert (product.name, product.category.slug, product.gemstone, product.description) == (
        "New name",
        "necklaces",
        "",
        "New text",
    )


def test_dry_run_reports_but_writes_nothing(tmp_path):
    existing = ProductVariantFactory(sku="SOL-YG-L", product__slug="solstice-ring", stock=9)

    output = run_command(tmp_path, *GOOD_ROWS, dry_run=True)

    assert output.startswith("Dry run, nothing written.")
    assert "Products: 1 created, 1 updated, 0 unchanged. Variants: 3 created, 1 updated" in output
    assert Product.objects.count() == 1
    assert ProductVariant.objects.count() == 1
    existing.refresh_from_db()
    assert existing.stock == 9


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("X1,new-ring,New Ring,rings,yellow-gold,,L,12.5.0,1,,,", "Row 3: price '12.5.0' is not a decimal number"),
        ("X1,new-ring,New Ring,rings,yellow-gold,,L,£1250,1,,,", "Row 3: price '£1250' is not a decimal number"),
        (
            "X1,new-ring,New Ring,rings,yellow-gold,,L,12.345,1,,,",
            "Row 3: price '12.345' has more than 2 decimal places",
        ),
        ("X1,new-ring,New Ring,rings,yellow-gold,,L,0,1,,,", "Row 3: price '0' must be greater than 0"),
        ("X1,new-ring,New Ring,rings,yellow-gold,,L,NaN,1,,,", "Row 3: price 'NaN' must be greater than 0"),
        ("X1,new-ring,New Ring,rings,yellow-gold,,L,100000000,1,,,", "Row 3: price '100000000' is too large"),
        ("X1,new-ring,New Ring,rings,yellow-gold,,L,10,-2,,,", "Row 3: stock '-2' cannot be negative"),
        ("X1,new-ring,New Ring,rings,yellow-gold,,L,10,lots,,,", "Row 3: stock 'lots' is not a whole number"),
        ("X1,new-ring,New Ring,rings,yellow-gold,,L,10,1,-1,,", "Row 3: low_stock_threshold '-1' cannot be negative"),
        (
            "X1,new-ring,New Ring,no-such-category,yellow-gold,,L,10,1,,,",
            "Row 3: unknown category_slug 'no-such-category'",
        ),
        ("X1,new-ring,New Ring,rings,bronze,,L,10,1,,,", "Row 3: unknown metal 'bronze'"),
        ("X1,new-ring,New Ring,rings,silver,onyx,L,10,1,,,", "Row 3: unknown gemstone 'onyx'"),
        ("X1,new-ring,New Ring,rings,silver,,L,10,1,,,maybe", "Row 3: is_active 'maybe' is not one of"),
        (",new-ring,New Ring,rings,silver,,L,10,1,,,", "Row 3: sku is required"),
        ("X1,,New Ring,rings,silver,,L,10,1,,,", "Row 3: product_slug is required"),
        ("X1,new-ring,New Ring,rings,,,L,10,1,,,", "Row 3: metal is required"),
        ("X1,new-ring,New Ring,rings,silver,,L,,1,,,", "Row 3: price is required"),
        ("X1,new-ring,New Ring,rings,silver,,L,10,,,,", "Row 3: stock is required"),
        ("X1,new ring!,New Ring,rings,silver,,L,10,1,,,", "Row 3: product_slug 'new ring!' may contain only"),
        ("X1,new-ring,New Ring,rings,silver,,TOOLONGSIZE,10,1,,,", "Row 3: ring_size 'TOOLONGSIZE' is longer"),
        ("X1,new-ring,,rings,silver,,L,10,1,,,", "Row 3: product_name is required for the new product 'new-ring'"),
        ("X1,new-ring,New Ring,,silver,,L,10,1,,,", "Row 3: category_slug is required for the new product 'new-ring'"),
        ("SOL-YG-L,other-ring,Other,rings,silver,,L,10,1,,,", "Row 3: duplicate SKU 'SOL-YG-L' (first seen on row 2)"),
        ("X1,solstice-ring,Another Name,rings,silver,,L,10,1,,,", "Row 3: product 'solstice-ring' has product_name"),
        ("X1,solstice-ring,,necklaces,silver,,L,10,1,,,", "Row 3: product 'solstice-ring' has category_slug"),
        ("X1,new-ring,New Ring,rings,silver,,L,10,1,,,,extra", "Row 3: the row has more values than the header"),
    ],
)
def test_every_bad_row_is_reported_with_its_row_number_and_nothing_is_imported(tmp_path, row, message):
    good = "SOL-YG-L,solstice-ring,Solstice Ring,rings,yellow-gold,diamond,L,1850.00,3,1,,"
    errors = StringIO()
    path = tmp_path / "bad.csv"
    path.write_text("\n".join([HEADER, good, row]) + "\n", encoding="utf-8")

    with pytest.raises(CommandError, match="nothing was imported"):
        call_command("import_products", str(path), stdout=StringIO(), stderr=errors)

    assert message in errors.getvalue()
    assert not Product.objects.exists()
    assert not ProductVariant.objects.exists()


def test_sku_of_another_product_is_a_conflict():
    ProductVariantFactory(sku="TAKEN", product__slug="first-ring")
    result = product_import_csv(file=csv_bytes("TAKEN,second-ring,Second,rings,silver,,,10,1,,,"))
    assert [str(e) for e in result.errors] == [
        "Row 2: SKU 'TAKEN' belongs to product 'first-ring', not 'second-ring'; moving a variant to another "
        "product is not supported."
    ]


def test_one_bad_row_among_good_ones_imports_nothing():
    rows = [*GOOD_ROWS, "BAD-1,bad-ring,Bad Ring,rings,yellow-gold,,L,ten pounds,1,,,"]
    result = product_import_csv(file=csv_bytes(*rows))
    assert [str(e) for e in result.errors] == [
        "Row 6: price 'ten pounds' is not a decimal number (write 1250.00, without £ or commas)."
    ]
    assert not Product.objects.exists()
    assert not ProductVariant.objects.exists()


def test_all_errors_are_reported_in_row_order():
    rows = ["A,ring-a,Ring A,nowhere,silver,,,10,1,,,", "B,ring-b,Ring B,rings,tin,,,x,-1,,,"]
    result = product_import_csv(file=csv_bytes(*rows))
    assert [e.row for e in result.errors] == [2, 3, 3, 3]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "Row 1: the file is empty"),
        (b"sku,product_slug,price\r\n", "Row 1: missing column(s): metal, stock."),
        (HEADER.encode() + b",colour\r\n", "Row 1: unknown column(s): colour"),
        (HEADER.encode() + b"\r\n", "Row 2: the file has a header but no product rows."),
        (b"\xff\xfes\x00k\x00u\x00", "Row 1: the file is not UTF-8 text"),
    ],
)
def test_file_level_problems(content, message):
    result = product_import_csv(file=BytesIO(content))
    assert message in next(str(e) for e in result.errors)


def test_blank_trailing_lines_are_ignored_and_text_files_work():
    result = product_import_csv(file=StringIO("\ufeff" + HEADER + "\n" + GOOD_ROWS[0] + "\n,,,,,,,,,,,\n\n"))
    assert result.ok, result.errors
    assert result.variants_created == 1


def test_missing_file_is_a_clean_command_error(tmp_path):
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("import_products", str(tmp_path / "nope.csv"))


def test_existing_product_does_not_need_name_or_category():
    ProductFactory(slug="plain-band")
    result = product_import_csv(file=csv_bytes("PB-1,plain-band,,,platinum,,N,480,2,,,"))
    assert result.ok
    assert result.variants_created == 1
    assert ProductVariant.objects.get(sku="PB-1").product.slug == "plain-band"


def test_every_problem_of_every_row_in_one_pass_with_the_valid_category_slugs():
    """Trap (issue #16): an unknown category was reported only once the row's other problems were fixed."""
    rings = Category.objects.get(slug="rings")
    ProductVariantFactory(sku="TAKEN", product__slug="first-ring", product__category=rings)
    rows = [
        "A1,ring-a,Ring A,nowhere,tin,,,ten,-1,,,",  # unknown category and three problems of its own
        "TAKEN,ring-b,Ring B,rings,silver,,,x,1,,,",  # another product's SKU and a bad price
        "C1,ring-c,,rings,silver,,,10,1,,,",  # a new product without a name
    ]
    result = product_import_csv(file=csv_bytes(*rows))
    assert [str(e) for e in result.errors] == [
        f"Row 2: unknown metal 'tin' (use one of: {', '.join(Metal.values)}).",
        "Row 2: price 'ten' is not a decimal number (write 1250.00, without £ or commas).",
        "Row 2: stock '-1' cannot be negative.",
        "Row 2: unknown category_slug 'nowhere' (valid category slugs: necklaces, rings).",
        "Row 3: price 'x' is not a decimal number (write 1250.00, without £ or commas).",
        "Row 3: SKU 'TAKEN' belongs to product 'first-ring', not 'ring-b'; moving a variant to another product "
        "is not supported.",
        "Row 4: product_name is required for the new product 'ring-c'.",
    ]
    assert not Product.objects.filter(slug__in=["ring-a", "ring-b", "ring-c"]).exists()


def test_imported_products_start_hidden_until_staff_publish_them(tmp_path):
    existing = ProductFactory(slug="solstice-ring", is_active=True)
    output = run_command(tmp_path, *GOOD_ROWS)
    assert "1 new product(s) are hidden from the shop" in output
    assert Product.objects.get(slug="tide-pendant").is_active is False
    existing.refresh_from_db()
    assert existing.is_active is True  # an update never hides a live product


def test_the_photo_placeholder_is_not_a_ring():
    """Trap (issue #16): earrings without a photo showed a ring. The placeholder is a plain gem outline."""
    from pathlib import Path

    svg = (Path(__file__).resolve().parents[2] / "static/img/placeholder.svg").read_text()
    assert "<circle" not in svg
    assert 'aria-hidden="true"' in svg
