"""The catalogue: categories, collections, products, their sellable variants and images."""

from collections.abc import Iterable
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q, Sum
from django.urls import reverse
from django.utils.functional import cached_property

from shop_text import text_one_line_check

from .events import catalogue_rows_written


class Metal(models.TextChoices):
    YELLOW_GOLD = "yellow-gold", "Yellow gold"
    WHITE_GOLD = "white-gold", "White gold"
    ROSE_GOLD = "rose-gold", "Rose gold"
    SILVER = "silver", "Sterling silver"
    PLATINUM = "platinum", "Platinum"


class Gemstone(models.TextChoices):
    NONE = "", "No stone"
    DIAMOND = "diamond", "Diamond"
    SAPPHIRE = "sapphire", "Sapphire"
    EMERALD = "emerald", "Emerald"
    RUBY = "ruby", "Ruby"
    PEARL = "pearl", "Pearl"
    AMETHYST = "amethyst", "Amethyst"
    TOPAZ = "topaz", "Topaz"
    OPAL = "opal", "Opal"


class CatalogueQuerySet(models.QuerySet):
    """Bulk writes that keep derived data in step, as save() and delete() do through their signals.

    update(), bulk_create() and bulk_update() (which writes through update()) send no post_save, so
    these send ``catalogue_rows_written`` (catalog.events) instead; catalog.signals answers it as it
    answers a save: stored price ranges and cache versions follow. No writer has anything to remember.
    (Deletes need nothing: models with delete receivers are never fast-deleted, so each row is heard.)
    Only raw SQL and the collections' link table written through its own manager get past this;
    tests/catalog/test_write_paths.py checks every write path and limits those two to where they are safe."""

    def _written(self, *, product_ids: Iterable[int] = (), stock_variant_ids: Iterable[int] = ()) -> None:
        catalogue_rows_written.send(
            sender=self.model, using=self.db, product_ids=set(product_ids), stock_variant_ids=list(stock_variant_ids)
        )

    def update(self, **kwargs) -> int:
        count = super().update(**kwargs)
        self._written()
        return count

    def bulk_create(self, objs, *args, **kwargs) -> list:
        created = super().bulk_create(objs, *args, **kwargs)
        self._written()
        return created


# How deep the category tree may go: a top category, its sub-categories and theirs ("Rings › Engagement
# rings › Solitaires"). Bounded so that "on sale only if every ancestor is" is a fixed number of joins in the
# one sellable rule, never a query per row or a recursive CTE; Category.clean refuses a deeper tree.
CATEGORY_MAX_DEPTH = 3
# What a loaded variant needs joined for ``ProductVariant.is_sellable`` (the category and its ancestors).
SELLABLE_RELATED = "product__category" + "__parent" * (CATEGORY_MAX_DEPTH - 1)


def category_on_sale_q(prefix: str = "") -> Q:
    """A category is on sale only if it and every ancestor are switched on (issue 21).

    One LEFT JOIN per level up (CATEGORY_MAX_DEPTH); a category deeper than the limit (or in a cycle
    written past Category.clean) is not on sale at all, so the rule fails closed."""
    condition = Q(**{f"{prefix}is_active": True})
    for level in range(1, CATEGORY_MAX_DEPTH):
        up = prefix + "parent__" * level
        condition &= Q(**{f"{up}isnull": True}) | Q(**{f"{up}is_active": True})
    return condition & Q(**{f"{prefix}{'parent__' * CATEGORY_MAX_DEPTH}isnull": True})


def category_is_on_sale(category: "Category") -> bool:
    """``category_on_sale_q`` for a loaded row whose ancestors came with it (select_related)."""
    for level in range(1, CATEGORY_MAX_DEPTH + 1):
        if not category.is_active:
            return False
        if category.parent_id is None:
            return True
        if level == CATEGORY_MAX_DEPTH:
            return False  # deeper than the limit: not on sale, as in the query (and no query to find out)
        category = category.parent
    return False


class CategoryQuerySet(CatalogueQuerySet):
    def on_sale(self) -> "CategoryQuerySet":
        """Categories shown in the shop: switched on, and so is every ancestor (``category_on_sale_q``)."""
        return self.filter(category_on_sale_q())


class Category(models.Model):
    name = models.CharField(max_length=100, validators=[text_one_line_check])
    slug = models.SlugField(max_length=120, unique=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    description = models.TextField(blank=True)
    seo_description = models.CharField(max_length=160, blank=True, validators=[text_one_line_check])
    position = models.PositiveSmallIntegerField(default=0)
    is_active = models.BooleanField(
        default=True, help_text="Switched off, it hides its sub-categories and all their pieces too."
    )

    objects = CategoryQuerySet.as_manager()

    class Meta:
        base_manager_name = "objects"  # reverse add()/set() write through it: they are heard too
        ordering = ("position", "name")
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return f"{self.parent} › {self.name}" if self.parent_id else self.name

    def get_absolute_url(self) -> str:
        return reverse("catalog:category-detail", kwargs={"slug": self.slug})

    def clean(self) -> None:
        """Refuse a parent that would make a cycle or a tree deeper than CATEGORY_MAX_DEPTH."""
        super().clean()
        parent_id, depth, seen = self.parent_id, 1, set()
        while parent_id is not None:
            if (self.pk is not None and parent_id == self.pk) or parent_id in seen:
                raise ValidationError({"parent": "A category cannot sit inside itself."})
            seen.add(parent_id)
            depth += 1
            parent_id = Category.objects.filter(pk=parent_id).values_list("parent_id", flat=True).first()
        below = self._levels_below() if self.pk is not None else 0
        if depth + below > CATEGORY_MAX_DEPTH:
            raise ValidationError(
                {"parent": f"Categories go at most {CATEGORY_MAX_DEPTH} levels deep (with their sub-categories)."}
            )

    def _levels_below(self) -> int:
        levels, layer = 0, [self.pk]
        while layer and levels <= CATEGORY_MAX_DEPTH:
            layer = list(Category.objects.filter(parent_id__in=layer).values_list("pk", flat=True))
            levels += bool(layer)
        return levels


class Collection(models.Model):
    name = models.CharField(max_length=100, validators=[text_one_line_check])
    slug = models.SlugField(max_length=120, unique=True)
    description = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)

    objects = CatalogueQuerySet.as_manager()

    class Meta:
        base_manager_name = "objects"  # reverse add()/set() write through it: they are heard too
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("catalog:collection-detail", kwargs={"slug": self.slug})


def sellable_product_q(prefix: str = "") -> Q:
    """The product half of the one "sellable" rule: the product, its category and the category's
    ancestors are switched on (``category_on_sale_q``).

    ``prefix`` reaches the product from another model (``"product__"`` from a variant). A shopper can
    neither see nor buy (nor learn the name of) a product that fails it; pages, the bag's add form and
    checkout's stock check all use this rule (``ProductQuerySet.active``, ``ProductVariantQuerySet.sellable``,
    ``ProductVariant.is_sellable``)."""
    return Q(**{f"{prefix}is_active": True}) & category_on_sale_q(f"{prefix}category__")


class ProductQuerySet(CatalogueQuerySet):
    def active(self) -> "ProductQuerySet":
        return self.filter(sellable_product_q())

    def for_listing(self) -> "ProductQuerySet":
        """Active products with an active variant, with what a product card shows, in a constant number of queries.

        The price range is stored on the product (``price_from``/``price_to``, kept by
        ``catalog.services.price_ranges``), so listing, filtering and sorting read one
        indexed table. Stock is never stored: ``stock_total`` is a correlated subquery, which
        Postgres evaluates only for the rows that survive ORDER BY ... LIMIT (a page of cards).
        The first image is prefetched, so a page of 24 cards costs the same as a page of one.
        """
        stock = (
            ProductVariant.objects.filter(product=models.OuterRef("pk"), is_active=True)
            .order_by()
            .values("product")
            .annotate(total=Sum("stock"))
            .values("total")
        )
        return (
            self.active()
            .filter(price_from__isnull=False)
            .select_related("category")
            .annotate(stock_total=models.Subquery(stock, output_field=models.IntegerField()))
            .prefetch_related(
                models.Prefetch(
                    "images", queryset=ProductImage.objects.order_by("position", "pk"), to_attr="ordered_images"
                )
            )
        )


class Product(models.Model):
    name = models.CharField(max_length=200, validators=[text_one_line_check])
    slug = models.SlugField(max_length=220, unique=True)
    description = models.TextField(blank=True)
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="products")
    collections = models.ManyToManyField(Collection, blank=True, related_name="products")
    metal = models.CharField(max_length=20, choices=Metal.choices, help_text="Main metal, used by the shop filters.")
    gemstone = models.CharField(max_length=20, choices=Gemstone.choices, blank=True)
    is_active = models.BooleanField(default=True, help_text="Inactive products are hidden from the shop.")
    is_featured = models.BooleanField(default=False, help_text="Shown on the home page.")
    is_engravable = models.BooleanField(default=False, help_text="Shoppers may add engraving text.")
    seo_description = models.CharField(
        max_length=160, blank=True, validators=[text_one_line_check], help_text="Search engine snippet, 160 characters."
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    # The listing summary: lowest and highest price of the active variants, NULL when there is none
    # (such a product is not for sale and is not listed). Derived data, written only by
    # catalog.services.price_ranges, so the shop pages need no GROUP BY over variants.
    price_from = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True, editable=False)
    price_to = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True, editable=False)

    objects = ProductQuerySet.as_manager()

    class Meta:
        base_manager_name = "objects"  # reverse add()/set() write through it: they are heard too
        ordering = ("-created_at", "-pk")
        indexes = [
            models.Index(fields=["is_active", "-created_at"], name="catalog_product_active_new"),
            # The price sorts and the price filter (ties broken by the newest-first order).
            models.Index(fields=["price_from", "-created_at"], name="catalog_product_price_from"),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("catalog:product-detail", kwargs={"slug": self.slug})


# A variant's fields that its product's stored price range is made from (catalog.services.price_ranges).
PRICE_RANGE_INPUTS = frozenset({"price", "is_active", "product", "product_id"})


class ProductVariantQuerySet(CatalogueQuerySet):
    def update(self, **kwargs) -> int:
        """Also refresh the price ranges of the products concerned, and tell apps above of new stock.

        Stock sold or returned by orders goes through ``catalog.services.stock.variant_stock_move``
        instead, which bumps only what a stock move makes obsolete; a plain update of stock here is an
        outside correction (a fixture, a shell) and makes every cached fragment obsolete."""
        if not kwargs.keys() & (PRICE_RANGE_INPUTS | {"stock"}):
            return super().update(**kwargs)
        rows = list(self.values_list("pk", "product_id"))  # before the update: a moved variant's old product
        count = models.QuerySet.update(self, **kwargs)
        product_ids = {product_id for _, product_id in rows} if kwargs.keys() & PRICE_RANGE_INPUTS else set()
        if kwargs.keys() & {"product", "product_id"}:  # moved: the new products too, read back (bulk_update's Case)
            moved = models.QuerySet(self.model, using=self.db).filter(pk__in=[pk for pk, _ in rows])
            product_ids.update(moved.values_list("product_id", flat=True))
        self._written(product_ids=product_ids, stock_variant_ids=[pk for pk, _ in rows] if "stock" in kwargs else ())
        return count

    def bulk_create(self, objs, *args, **kwargs) -> list:
        created = models.QuerySet.bulk_create(self, objs, *args, **kwargs)
        self._written(product_ids={variant.product_id for variant in created})
        return created

    def sellable(self) -> "ProductVariantQuerySet":
        """Variants a shopper may see and buy: the variant, its product and the product's category are active.

        Stock is not part of the rule: a sold-out piece is still shown (as sold out), it just cannot be had."""
        return self.filter(sellable_product_q("product__"), is_active=True)


class ProductVariant(models.Model):
    """The sellable unit: one SKU in one metal (and ring size, for rings), with its own price and stock."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="variants")
    sku = models.CharField("SKU", max_length=64, unique=True, validators=[text_one_line_check])
    metal = models.CharField(max_length=20, choices=Metal.choices)
    ring_size = models.CharField(
        max_length=8, blank=True, validators=[text_one_line_check], help_text="Only for rings, e.g. 'L' or 'N½'."
    )
    price = models.DecimalField(max_digits=10, decimal_places=2, validators=[MinValueValidator(Decimal("0.01"))])
    stock = models.IntegerField(default=0, validators=[MinValueValidator(0)])
    low_stock_threshold = models.PositiveIntegerField(default=1)
    is_active = models.BooleanField(default=True)
    position = models.PositiveSmallIntegerField(default=0)

    objects = ProductVariantQuerySet.as_manager()

    class Meta:
        base_manager_name = "objects"  # reverse add()/set() write through it: they are heard too
        ordering = ("position", "pk")
        constraints = [
            models.CheckConstraint(condition=Q(stock__gte=0), name="catalog_variant_stock_not_negative"),
            models.CheckConstraint(condition=Q(price__gt=0), name="catalog_variant_price_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.product.name} – {self.options_label} ({self.sku})"

    @property
    def options_label(self) -> str:
        parts = [self.get_metal_display()]
        if self.ring_size:
            parts.append(f"size {self.ring_size}")
        return ", ".join(parts)

    @property
    def is_sellable(self) -> bool:
        """``ProductVariantQuerySet.sellable`` for a loaded row (``select_related(SELLABLE_RELATED)`` first)."""
        product = self.product
        return self.is_active and product.is_active and category_is_on_sale(product.category)

    @property
    def is_available(self) -> bool:
        return self.is_active and self.stock > 0

    @property
    def is_low_stock(self) -> bool:
        return 0 < self.stock <= self.low_stock_threshold


class StockReason(models.TextChoices):
    RECEIVED = "received", "Received (new pieces)"
    RETURNED = "returned", "Returned to stock"
    DAMAGED = "damaged", "Damaged"
    LOST = "lost", "Lost or stolen"
    RECOUNT = "recount", "Stock count correction"
    OPENING = "opening", "Opening stock"


class StockAdjustment(models.Model):
    """One staff change of a variant's stock: who, when, why, by how much, before and after.

    Written only by ``catalog.services.stock.variant_stock_adjust``, which applies the change with F() under
    the variant's row lock, so a sale between loading a page and saving it is never overwritten.
    """

    # PROTECT: a variant (or its product) with stock history cannot be deleted, only retired (is_active).
    variant = models.ForeignKey(ProductVariant, on_delete=models.PROTECT, related_name="stock_adjustments")
    change = models.IntegerField(help_text="Pieces added (+) or taken away (-).")
    stock_before = models.IntegerField()
    stock_after = models.IntegerField()
    reason = models.CharField(max_length=20, choices=StockReason.choices)
    note = models.CharField(max_length=200, blank=True, validators=[text_one_line_check])
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ("-created_at", "-pk")
        constraints = [
            models.CheckConstraint(condition=~Q(change=0), name="catalog_stockadjustment_change_not_zero"),
            models.CheckConstraint(
                condition=Q(stock_after=models.F("stock_before") + models.F("change")) & Q(stock_after__gte=0),
                name="catalog_stockadjustment_adds_up",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.change:+d} {self.get_reason_display().lower()} ({self.stock_before} → {self.stock_after})"


# A card says "Only N left" at or below this many pieces in stock across its variants (and "Sold out"
# at 0); above it a card shows no stock at all (catalog.services.stock relies on this).
LOW_STOCK_CARD = 2

# Width of the plain `src` JPEG for browsers that ignore srcset (and for social previews).
FALLBACK_WIDTH = 960


def product_image_path(instance: "ProductImage", filename: str) -> str:
    return f"products/{instance.product.slug}/{filename}"


class ProductImage(models.Model):
    """A photo of a product, ordered; optionally of one variant (the rose-gold photo for rose gold)."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="images")
    variant = models.ForeignKey(ProductVariant, null=True, blank=True, on_delete=models.SET_NULL, related_name="images")
    # No width_field/height_field: with them Django re-reads the file (an S3 GET) whenever a row without
    # dimensions is loaded, even just to render a page. catalog.services.image_records sets width and height itself.
    image = models.ImageField(upload_to=product_image_path)
    width = models.PositiveIntegerField(null=True, blank=True, editable=False)
    height = models.PositiveIntegerField(null=True, blank=True, editable=False)
    alt_text = models.CharField(
        max_length=200,
        validators=[text_one_line_check],
        help_text="Describe the photo for shoppers using screen readers.",
    )
    position = models.PositiveSmallIntegerField(default=0)
    # Made once at upload by catalog.services.image_records: [{"width", "height", "format", "name", "bytes"}],
    # "format" being "webp" or "jpeg" and "name" the storage key. Kept on the row so a page of
    # product cards needs no extra query, and building their URLs needs no call to storage.
    renditions = models.JSONField(default=list, blank=True, editable=False)

    objects = CatalogueQuerySet.as_manager()

    class Meta:
        base_manager_name = "objects"  # reverse add()/set() write through it: they are heard too
        ordering = ("position", "pk")
        constraints = [models.CheckConstraint(condition=~Q(alt_text=""), name="catalog_image_alt_text_required")]

    def __str__(self) -> str:
        return self.alt_text

    # --- Rendition URLs for templates/includes/_product_image.html (string building only) ---
    def _srcset(self, fmt: str) -> str:
        storage = self.image.storage
        entries = sorted((r for r in self.renditions if r["format"] == fmt), key=lambda r: r["width"])
        return ", ".join(f"{storage.url(r['name'])} {r['width']}w" for r in entries)

    @cached_property
    def webp_srcset(self) -> str:
        return self._srcset("webp")

    @cached_property
    def jpeg_srcset(self) -> str:
        return self._srcset("jpeg")

    @cached_property
    def src_url(self) -> str:
        """The `src` for browsers without srcset: a mid-sized JPEG rendition, else the stored original."""
        jpegs = sorted((r for r in self.renditions if r["format"] == "jpeg"), key=lambda r: r["width"])
        if not jpegs:
            return self.image.url
        mid = next((r for r in jpegs if r["width"] >= FALLBACK_WIDTH), jpegs[-1])
        return self.image.storage.url(mid["name"])

    @property
    def rendition_names(self) -> list[str]:
        return [r["name"] for r in self.renditions]
