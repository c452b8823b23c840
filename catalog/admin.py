"""Staff screens for the catalogue. Django's admin already limits every page here to active staff."""

from django.contrib import admin
from django.db.models import Count, Exists, F, Max, Min, OuterRef, Q, QuerySet, Sum
from django.http import HttpRequest
from django.utils.html import format_html

from .admin_uploads import ProductImageAdmin  # product photos (helper E, issue #5)
from .models import Category, Collection, Product, ProductImage, ProductVariant

admin.site.site_header = "Maison Aurelia admin"
admin.site.site_title = "Maison Aurelia admin"
admin.site.index_title = "Shop management"

THUMBNAIL_SIZE = 96


def money(amount) -> str:
    return f"£{amount:,.2f}"


def thumbnail_url(image: ProductImage) -> str:
    """The smallest JPEG rendition still sharp at twice the thumbnail size, else the original."""
    fitting = [r for r in image.renditions if r["format"] == "jpeg" and r["width"] >= THUMBNAIL_SIZE * 2]
    if not fitting:
        return image.image.url
    return image.image.storage.url(min(fitting, key=lambda r: r["width"])["name"])


class CategoryListFilter(admin.RelatedFieldListFilter):
    """The stock category filter, but naming "Rings › Wedding bands" without one query per category."""

    def field_choices(self, field, request, model_admin):
        categories = Category.objects.select_related("parent__parent")
        return [(category.pk, str(category)) for category in sorted(categories, key=_tree_order)]


def _tree_order(category: Category) -> tuple:
    """Each parent followed by its children: (top position, top name, 0 for the top, own position, own name)."""
    top = category.parent or category
    return (top.position, top.name, category.parent_id is not None, category.position, category.name)


class StockStatusFilter(admin.SimpleListFilter):
    """Products needing a reorder: low stock counts sold-out variants too (stock <= threshold)."""

    title = "stock"
    parameter_name = "stock"
    LOW = "low"
    SOLD_OUT = "sold-out"

    def lookups(self, request, model_admin):
        return [
            (self.LOW, "Low stock (any active variant at or below its threshold)"),
            (self.SOLD_OUT, "Sold out (no active variant in stock)"),
        ]

    def queryset(self, request, queryset):
        active_variants = ProductVariant.objects.filter(product=OuterRef("pk"), is_active=True)
        if self.value() == self.LOW:
            return queryset.filter(Exists(active_variants.filter(stock__lte=F("low_stock_threshold"))))
        if self.value() == self.SOLD_OUT:
            return queryset.filter(~Exists(active_variants.filter(stock__gt=0)))
        return queryset


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ("__str__", "slug", "position", "product_count", "is_active")
    list_editable = ("position", "is_active")
    list_filter = ("is_active",)
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    autocomplete_fields = ("parent",)
    fields = ("name", "slug", "parent", "description", "seo_description", "position", "is_active")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Category]:
        # __str__ walks up the parents; fetch two levels with the row (autocomplete uses this too).
        queryset = super().get_queryset(request).select_related("parent__parent")
        # Counting groups the rows, which drops the model's default ordering: restate it (autocomplete pages).
        return queryset.annotate(_product_count=Count("products")).order_by(*Category._meta.ordering)

    @admin.display(description="Products", ordering="_product_count")
    def product_count(self, obj: Category) -> int:
        return obj._product_count


@admin.register(Collection)
class CollectionAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "product_count", "is_active")
    list_filter = ("is_active",)
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}

    def get_queryset(self, request: HttpRequest) -> QuerySet[Collection]:
        return (
            super()
            .get_queryset(request)
            .annotate(_product_count=Count("products"))
            .order_by(*Collection._meta.ordering)
        )

    @admin.display(description="Products", ordering="_product_count")
    def product_count(self, obj: Collection) -> int:
        return obj._product_count


class ProductVariantInline(admin.TabularInline):
    model = ProductVariant
    fields = ("sku", "metal", "ring_size", "price", "stock", "low_stock_threshold", "is_active", "position")
    extra = 1


class ProductImageInline(admin.TabularInline):
    model = ProductImage
    # Helper E: no raw file field here. New photos go through the checked upload form (validation,
    # re-encoding, renditions, direct-to-S3), linked as "Add photo" at the top of the product page.
    fields = ("preview", "alt_text", "variant", "position")
    readonly_fields = ("preview",)
    extra = 0

    def has_add_permission(self, request, obj=None) -> bool:
        return False  # helper E: see the comment above

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        # Offer only this product's own variants; a new product has none yet (pick after saving).
        variants = ProductVariant.objects.select_related("product")
        field = formset.form.base_fields["variant"]
        field.queryset = variants.filter(product=obj) if obj is not None else variants.none()
        field.label_from_instance = lambda variant: f"{variant.options_label} ({variant.sku})"  # product is known
        for capability in ("can_add_related", "can_change_related", "can_delete_related", "can_view_related"):
            setattr(field.widget, capability, False)  # variants are edited in the table above, not in pop-ups
        return formset

    @admin.display(description="Preview")
    def preview(self, obj: ProductImage) -> str:
        if not obj.pk or not obj.image:
            return "—"
        height = THUMBNAIL_SIZE
        if obj.width and obj.height:
            height = round(THUMBNAIL_SIZE * obj.height / obj.width)
        return format_html(
            '<img src="{}" alt="{}" width="{}" height="{}">', thumbnail_url(obj), obj.alt_text, THUMBNAIL_SIZE, height
        )


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ("name", "category", "metal", "price_range", "total_stock", "active")
    list_filter = (
        ("category", CategoryListFilter),
        "metal",
        "gemstone",
        "is_active",
        "is_featured",
        StockStatusFilter,
    )
    list_select_related = ("category__parent__parent",)
    list_per_page = 50
    search_fields = ("name", "variants__sku", "description")
    search_help_text = "Search by name, SKU or description."
    prepopulated_fields = {"slug": ("name",)}
    autocomplete_fields = ("category", "collections")
    readonly_fields = ("created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("name", "slug", "category", "collections")}),
        ("Description", {"fields": ("metal", "gemstone", "description")}),
        ("In the shop", {"fields": ("is_active", "is_featured", "is_engravable")}),
        ("Search engines", {"fields": ("seo_description",)}),
        ("History", {"fields": ("created_at", "updated_at"), "classes": ("collapse",)}),
    )
    inlines = (ProductVariantInline, ProductImageInline)

    class Media:
        css = {"all": ("css/admin-catalog.css",)}  # narrower inputs so the variant table fits the page

    def get_queryset(self, request: HttpRequest) -> QuerySet[Product]:
        # Aggregated in SQL so the changelist costs the same at 1 and at 1,000 products.
        active = Q(variants__is_active=True)
        return (
            super()
            .get_queryset(request)
            .annotate(
                _price_from=Min("variants__price", filter=active),
                _price_to=Max("variants__price", filter=active),
                _stock_total=Sum("variants__stock", filter=active),
            )
            .order_by(*Product._meta.ordering)
        )

    @admin.display(description="Price", ordering="_price_from")
    def price_range(self, obj: Product) -> str:
        if obj._price_from is None:
            return "—"
        if obj._price_from == obj._price_to:
            return money(obj._price_from)
        return f"{money(obj._price_from)} – {money(obj._price_to)}"

    @admin.display(description="Stock", ordering="_stock_total")
    def total_stock(self, obj: Product) -> int:
        return obj._stock_total or 0

    # A short header keeps the list inside a 1280px screen (featured is a filter, not a column, for the same reason).
    @admin.display(description="Active", boolean=True, ordering="is_active")
    def active(self, obj: Product) -> bool:
        return obj.is_active


@admin.register(ProductVariant)
class ProductVariantAdmin(admin.ModelAdmin):
    list_display = ("sku", "product", "metal", "ring_size", "price", "stock", "low_stock_threshold", "is_active")
    list_display_links = ("sku",)
    list_editable = ("price", "stock")
    list_filter = ("metal", "is_active")
    list_select_related = ("product",)
    search_fields = ("sku", "product__name")
    autocomplete_fields = ("product",)

    class Media:
        css = {"all": ("css/admin-catalog.css",)}  # compact price and stock inputs in the list


# --- Product photos (helper E, issue #5): adding one goes through the checked upload form ------------
admin.site.register(ProductImage, ProductImageAdmin)
