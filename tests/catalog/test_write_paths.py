"""Issue 13: every way of writing a catalogue row keeps the derived data in step, with nothing to remember.

The rule: after any write of a row a shop page shows, the cached fragments it changed are obsolete
once the write commits (catalog.cache.catalog_cache_versions_bump, the one function that bumps), the
stored price ranges are right, and stock that grew is heard by apps above (restock). Each case below is
one write path; the last tests fail when a catalogue model, or a way around the ORM, is added without
being listed here.
"""

import io
import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from django.apps import apps
from django.core.cache import cache
from django.db import transaction
from django.dispatch import receiver

from catalog.cache import _AfterCommitBump, catalog_version, product_page_versions, product_stock_version_start
from catalog.events import variant_stock_changed
from catalog.models import (
    CatalogueQuerySet,
    Category,
    Collection,
    Product,
    ProductImage,
    ProductVariant,
    StockAdjustment,
)
from catalog.services.product_import import product_import_csv
from catalog.services.stock import variant_stock_adjust, variant_stock_move
from tests.factories import CategoryFactory, ProductFactory, ProductImageFactory, ProductVariantFactory

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


def _collection(name: str = "Bridal") -> Collection:
    return Collection.objects.create(name=name, slug=name.lower())


def _variant(**fields) -> ProductVariant:
    return ProductVariantFactory(price=Decimal("100.00"), stock=10, **fields)


def _image_of_a_variant() -> ProductVariant:
    variant = _variant()
    ProductImageFactory(product=variant.product, variant=variant)
    return variant


def _product_in_a_collection() -> tuple[Product, Collection]:
    product, collection = _variant().product, _collection()
    product.collections.add(collection)
    return product, collection


# Each write path: (name, setup returning the object, the write). Setup runs before the version is read.
WRITES: list[tuple[str, Callable[[], object], Callable[[object], None]]] = [
    # Category
    ("category create", lambda: None, lambda _: CategoryFactory(slug="new-cat")),
    ("category save", CategoryFactory, lambda c: (setattr(c, "name", "Renamed"), c.save())),
    ("category save update_fields", CategoryFactory, lambda c: c.save(update_fields=["name"])),
    ("category queryset update", CategoryFactory, lambda c: Category.objects.filter(pk=c.pk).update(is_active=False)),
    ("category bulk_create", lambda: None, lambda _: Category.objects.bulk_create([Category(name="B", slug="b")])),
    (
        "category bulk_update",
        CategoryFactory,
        lambda c: (setattr(c, "name", "Bulk"), Category.objects.bulk_update([c], ["name"])),
    ),
    ("category delete", CategoryFactory, lambda c: c.delete()),
    ("category queryset delete", CategoryFactory, lambda c: Category.objects.filter(pk=c.pk).delete()),
    # Collection
    ("collection create", lambda: None, lambda _: _collection()),
    ("collection save", _collection, lambda c: (setattr(c, "name", "Wedding"), c.save())),
    ("collection queryset update", _collection, lambda c: Collection.objects.filter(pk=c.pk).update(name="X")),
    ("collection bulk_create", lambda: None, lambda _: Collection.objects.bulk_create([Collection(slug="a")])),
    ("collection delete", _collection, lambda c: c.delete()),
    ("collection queryset delete", _collection, lambda c: Collection.objects.filter(pk=c.pk).delete()),
    # Product, and its collections (many-to-many, both sides)
    ("product create", lambda: None, lambda _: ProductFactory()),
    ("product save", lambda: _variant().product, lambda p: (setattr(p, "name", "New name"), p.save())),
    ("product save update_fields", lambda: _variant().product, lambda p: p.save(update_fields=["name"])),
    (
        "product queryset update",
        lambda: _variant().product,
        lambda p: Product.objects.filter(pk=p.pk).update(is_active=False),
    ),
    ("product related update", lambda: _variant().product, lambda p: p.category.products.update(is_featured=True)),
    (
        "product bulk_create",
        CategoryFactory,
        lambda c: Product.objects.bulk_create([Product(name="B", slug="b", category=c, metal="silver")]),
    ),
    (
        "product bulk_update",
        lambda: _variant().product,
        lambda p: (setattr(p, "name", "Bulk"), Product.objects.bulk_update([p], ["name"])),
    ),
    ("product delete", lambda: _variant().product, lambda p: p.delete()),
    ("product queryset delete", lambda: _variant().product, lambda p: Product.objects.filter(pk=p.pk).delete()),
    ("product collections add", lambda: (_variant().product, _collection()), lambda pc: pc[0].collections.add(pc[1])),
    ("product collections set", lambda: (_variant().product, _collection()), lambda pc: pc[0].collections.set([pc[1]])),
    ("collection products add", lambda: (_variant().product, _collection()), lambda pc: pc[1].products.add(pc[0])),
    ("product collections remove", _product_in_a_collection, lambda pc: pc[0].collections.remove(pc[1])),
    ("product collections clear", _product_in_a_collection, lambda pc: pc[0].collections.clear()),
    (
        "category products add (reverse foreign key, bulk)",
        lambda: (_variant().product, CategoryFactory()),
        lambda pc: pc[1].products.add(pc[0]),
    ),
    # ProductVariant (stock aside: see the stock section)
    ("variant create", lambda: ProductFactory(), lambda p: ProductVariantFactory(product=p)),
    ("variant save", _variant, lambda v: (setattr(v, "price", Decimal("120.00")), v.save())),
    ("variant queryset update", _variant, lambda v: ProductVariant.objects.filter(pk=v.pk).update(ring_size="M")),
    ("variant related update", _variant, lambda v: v.product.variants.update(price=Decimal("130.00"))),
    (
        "variant bulk_create",
        lambda: ProductFactory(),
        lambda p: ProductVariant.objects.bulk_create([ProductVariant(product=p, sku="B1", metal="silver", price=1)]),
    ),
    (
        "variant bulk_update",
        _variant,
        lambda v: (setattr(v, "price", Decimal("140.00")), ProductVariant.objects.bulk_update([v], ["price"])),
    ),
    ("variant moved by reverse add", lambda: (_variant(), ProductFactory()), lambda vp: vp[1].variants.add(vp[0])),
    (
        "variant bulk_update product",
        lambda: (_variant(), ProductFactory()),
        lambda vp: (setattr(vp[0], "product", vp[1]), ProductVariant.objects.bulk_update([vp[0]], ["product"])),
    ),
    ("variant delete", _variant, lambda v: v.delete()),
    ("variant queryset delete", _variant, lambda v: ProductVariant.objects.filter(pk=v.pk).delete()),
    # ProductImage
    ("image create", lambda: _variant().product, lambda p: ProductImageFactory(product=p)),
    ("image save", lambda: ProductImageFactory(), lambda i: (setattr(i, "alt_text", "Side view"), i.save())),
    (
        "image queryset update",
        lambda: ProductImageFactory(),
        lambda i: ProductImage.objects.filter(pk=i.pk).update(position=3),
    ),
    (
        "image bulk_create",
        lambda: ProductFactory(),
        lambda p: ProductImage.objects.bulk_create([ProductImage(product=p, image="x.jpg", alt_text="Front")]),
    ),
    (
        "image added by reverse add",
        lambda: (ProductImageFactory(), ProductFactory()),
        lambda ip: ip[1].images.add(ip[0]),
    ),
    ("image variant cleared (reverse, nullable)", lambda: _image_of_a_variant(), lambda v: v.images.clear()),
    ("image delete", lambda: ProductImageFactory(), lambda i: i.delete()),
    ("image queryset delete", lambda: ProductImageFactory(), lambda i: ProductImage.objects.filter(pk=i.pk).delete()),
]


@pytest.mark.parametrize(("setup", "write"), [w[1:] for w in WRITES], ids=[w[0] for w in WRITES])
def test_every_write_path_makes_the_cached_catalogue_obsolete_after_commit(
    setup, write, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):  # the setup's writes are committed (as it were)
        target = setup()
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        write(target)
        during = catalog_version()  # what a request reading the old rows meanwhile could have cached under
    assert catalog_version() != during


# --- Price ranges ---------------------------------------------------------------------------------------
PRICE_WRITES = [
    ("save", lambda v: (setattr(v, "price", Decimal("150.00")), v.save())),
    ("queryset update", lambda v: ProductVariant.objects.filter(pk=v.pk).update(price=Decimal("150.00"))),
    ("related update", lambda v: v.product.variants.update(price=Decimal("150.00"))),
    ("bulk_update", lambda v: (setattr(v, "price", Decimal(150)), ProductVariant.objects.bulk_update([v], ["price"]))),
]


@pytest.mark.parametrize("write", [w[1] for w in PRICE_WRITES], ids=[w[0] for w in PRICE_WRITES])
def test_every_price_write_path_keeps_the_stored_price_range(write):
    variant = _variant()
    write(variant)
    product = Product.objects.get(pk=variant.product_id)
    assert (product.price_from, product.price_to) == (Decimal("150.00"), Decimal("150.00"))


MOVES = [
    ("reverse add", lambda v, to: to.variants.add(v)),
    ("queryset update", lambda v, to: ProductVariant.objects.filter(pk=v.pk).update(product=to)),
    ("bulk_update", lambda v, to: (setattr(v, "product", to), ProductVariant.objects.bulk_update([v], ["product"]))),
]


@pytest.mark.parametrize("move", [m[1] for m in MOVES], ids=[m[0] for m in MOVES])
def test_moving_a_variant_keeps_both_products_price_ranges(move):
    variant = _variant()
    left = variant.product
    ProductVariantFactory(product=left, price=Decimal("300.00"))
    to = ProductVariantFactory(price=Decimal("500.00")).product
    move(variant, to)
    left.refresh_from_db()
    to.refresh_from_db()
    assert (left.price_from, left.price_to) == (Decimal("300.00"), Decimal("300.00"))
    assert (to.price_from, to.price_to) == (Decimal("100.00"), Decimal("500.00"))


def test_withdrawing_a_variant_in_bulk_takes_it_out_of_the_price_range():
    variant = _variant()
    ProductVariantFactory(product=variant.product, price=Decimal("300.00"))
    ProductVariant.objects.filter(pk=variant.pk).update(is_active=False)
    assert Product.objects.get(pk=variant.product_id).price_from == Decimal("300.00")


# --- Stock ------------------------------------------------------------------------------------------------
@pytest.fixture
def heard() -> list[int]:
    """The variant ids that apps above catalog were told have new stock."""
    ids: list[int] = []

    @receiver(variant_stock_changed, weak=False, dispatch_uid="test-write-paths")
    def listen(sender, variant_ids, **kwargs):
        ids.extend(variant_ids)

    yield ids
    variant_stock_changed.disconnect(dispatch_uid="test-write-paths")


STOCK_RAISES = [
    ("save", lambda v: (setattr(v, "stock", 3), v.save())),
    ("queryset update", lambda v: ProductVariant.objects.filter(pk=v.pk).update(stock=3)),
    ("bulk_update", lambda v: (setattr(v, "stock", 3), ProductVariant.objects.bulk_update([v], ["stock"]))),
    ("stock move", lambda v: variant_stock_move(deltas={v.pk: 3})),
    ("staff adjustment", lambda v: variant_stock_adjust(variant_id=v.pk, change=3, reason="received")),
    (
        "csv import",
        lambda v: product_import_csv(
            file=io.StringIO(f"sku,product_slug,metal,price,stock\n{v.sku},{v.product.slug},{v.metal},100,3\n")
        ),
    ),
]


@pytest.mark.parametrize("write", [w[1] for w in STOCK_RAISES], ids=[w[0] for w in STOCK_RAISES])
def test_every_stock_write_path_is_heard_and_shows_on_every_grid(write, heard, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        sold_out = ProductVariantFactory(metal="silver", price=Decimal("100.00"), stock=0)
    heard.clear()  # its creation was heard too
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        write(sold_out)
        during = catalog_version()
    assert ProductVariant.objects.get(pk=sold_out.pk).stock == 3
    assert heard == [sold_out.pk]  # restock's e-mails hang on this
    assert catalog_version() != during  # the cards said "Sold out"


def test_an_ordinary_sale_bumps_only_its_product_page(django_capture_on_commit_callbacks):
    variant = ProductVariantFactory(stock=10)
    slug = variant.product.slug
    catalogue, _ = product_page_versions(slug=slug)
    page = product_stock_version_start(slug=slug, catalogue=catalogue)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        variant_stock_move(deltas={variant.pk: -1})
    assert catalog_version() == catalogue  # 9 left: the card shows no stock, the grids stay cached
    assert product_page_versions(slug=slug)[1] not in (None, page)


def test_a_checkout_writes_nothing_to_the_cache_before_commit(django_capture_on_commit_callbacks):
    """order_place holds the cart and variant locks until commit: no cache write may join them."""
    from tests.orders.conftest import cart_with, place

    with django_capture_on_commit_callbacks(execute=True):
        variant = ProductVariantFactory(stock=1)
        cart = cart_with((variant, 1))
    before = catalog_version()
    stored = dict(cache._cache)  # the test settings' local-memory cache: every key and value
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        place(cart)  # 1 → 0: every grid's badge changes, after commit
        assert dict(cache._cache) == stored
    bumps = [c for c in callbacks if isinstance(c, _AfterCommitBump)]
    assert len(bumps) == 1
    bumps[0]()
    assert catalog_version() != before


@pytest.mark.parametrize("rolled_back", [False, True], ids=["kept (control)", "rolled back"])
def test_a_rolled_back_write_bumps_nothing_after_commit(rolled_back, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        product = _variant().product
    with django_capture_on_commit_callbacks(execute=False) as callbacks, transaction.atomic():
        try:
            with transaction.atomic():
                Product.objects.filter(pk=product.pk).update(name="Never")
                if rolled_back:
                    raise RuntimeError
        except RuntimeError:
            pass
    assert len([c for c in callbacks if isinstance(c, _AfterCommitBump)]) == (0 if rolled_back else 1)


# --- Nothing left out -----------------------------------------------------------------------------------
SHOWN = {Category, Collection, Product, ProductVariant, ProductImage}
NOT_SHOWN = {StockAdjustment: "staff's stock history: on no shop page, and written only with a stock move"}


def test_every_catalogue_model_is_either_shown_and_covered_or_listed_as_not_shown():
    models = set(apps.get_app_config("catalog").get_models(include_auto_created=True))
    through = Product.collections.through
    assert models == SHOWN | set(NOT_SHOWN) | {through}, "a new catalogue model: add its write paths above"
    for model in SHOWN:
        assert issubclass(model._default_manager._queryset_class, CatalogueQuerySet), model
    written = {name.split()[0] for name, _, _ in WRITES}
    assert written == {"category", "collection", "product", "variant", "image"}


# Raw SQL, and the collections' link table written through its own manager, are the writers nothing
# hears; each file that uses one says why it may.
RAW_SQL_WRITE = re.compile(r"(?i)\b(update|insert\s+into|delete\s+from|truncate)\s+\"?catalog_|through\.objects\b")
RAW_SQL_ALLOWED = {
    "bench/catalog_data.py": "inside the loader's transaction, whose bulk writes bump the versions at commit",
    "catalog/migrations": "migrations run before any page is cached",
}
PLAIN_UPDATE_ALLOWED = {"catalog/services/stock.py", "catalog/models.py"}  # the stock move and the guard itself
AROUND_THE_QUERYSET = re.compile(r"QuerySet\.(update|bulk_create)\(|\._update\(|\._base_manager\b|_raw_delete\(")


def test_no_code_writes_catalogue_tables_around_the_orm():
    offenders, plain_updates = [], []
    for path in sorted(ROOT.glob("**/*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if relative.startswith((".", "tests/", "node_modules/")) or "/site-packages/" in relative:
            continue
        text = path.read_text(encoding="utf-8")
        if RAW_SQL_WRITE.search(text) and not any(relative.startswith(allowed) for allowed in RAW_SQL_ALLOWED):
            offenders.append(relative)
        if AROUND_THE_QUERYSET.search(text) and relative not in PLAIN_UPDATE_ALLOWED:
            plain_updates.append(relative)
    assert offenders == [], "a catalogue table written around its models: use them (or say why here)"
    assert plain_updates == [], "a write past CatalogueQuerySet: use the ORM's public methods or catalog.services.stock"


def test_the_around_the_orm_pattern_finds_each_shape_and_not_a_migration_name():
    for bypass in ("models.QuerySet.update(qs, x=1)", "qs._update({})", "ProductVariant._base_manager.all()"):
        assert AROUND_THE_QUERYSET.search(bypass), bypass
    assert not AROUND_THE_QUERYSET.search("('catalog', '0007_catalogue_base_managers_hear_reverse_adds')")
