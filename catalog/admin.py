"""Staff screens for the catalogue. Django's admin already limits every page here to active staff."""

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, Exists, F, Max, Min, OuterRef, Q, QuerySet, Sum
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from .admin_uploads import ProductImageAdmin  # product photos (helper E, issue #5)
from .models import Category, Collection, Product, ProductImage, ProductVariant, StockAdjustment, StockReason
from .money import format_money
from .services.stock import StockAdjustmentError, variant_stock_adjust

admin.site.site_header = "Maison Aurelia admin"
admin.site.site_title = "Maison Aurelia admin"
admin.site.index_title = "Shop management"
# The app list is one click away (Home); at 1280 px its sidebar took 300 px from the order and variant
# lists, whose right-hand columns then scrolled out of sight (issue 16).
admin.site.enable_nav_sidebar = False

THUMBNAIL_SIZE = 96


def money(amount) -> str:
    return format_money(amount, pence=True)


def thumbnail_url(image: ProductImage) -> str:
    """The smallest JPEG rendition still sharp at twice the thumbnail size, else the original."""
    fitting = [r for r in image.renditions if r["format"] == "jpeg" and r["width"] >= THUMBNAIL_SIZE * 2]
    if not fitting:
        return image.image.url
    return image.image.storage.url(min(fitting, key=lambda r: r["width"])["name"])


class ReadOnlyAdmin(admin.ModelAdmin):
    """A record staff may look at and never add, change or delete (here as catalog is the lowest app the
    orders and payments admins may import)."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


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


# --- Stock in the admin (issue 15) --------------------------------------------------------------------
# No admin form has a stock field: a value typed over the stock shown when the page was loaded would undo
# every sale made since. Staff give a change ("+3 received", "-1 damaged"), applied by
# catalog.services.stock.variant_stock_adjust to the stock as it is when saving, and recorded.

STOCK_CHANGE_LIMIT = 10_000


class VariantAdminForm(forms.ModelForm):
    """A variant without its stock field, plus a stock change and its reason; saves only changed columns."""

    stock_change = forms.IntegerField(
        required=False,
        min_value=-STOCK_CHANGE_LIMIT,
        max_value=STOCK_CHANGE_LIMIT,
        label="Stock change",
        help_text="Pieces to add (3) or take away (-1); applied to the stock as it is when you save.",
        widget=forms.NumberInput(attrs={"class": "vIntegerField", "placeholder": "+/-"}),
    )
    stock_reason = forms.ChoiceField(choices=[("", "Reason…"), *StockReason.choices], required=False, label="Why")

    class Meta:
        model = ProductVariant
        # Never "stock" (see above).
        fields = ("product", "sku", "metal", "ring_size", "price", "low_stock_threshold", "is_active", "position")

    def clean(self) -> dict:
        cleaned = super().clean()
        change, reason = cleaned.get("stock_change"), cleaned.get("stock_reason")
        if change and not reason:
            self.add_error("stock_reason", "Say why the stock changes.")
        if change and change < 0 and self.instance.pk is None:
            self.add_error("stock_change", "A new variant starts at 0: its opening stock cannot be negative.")
        return cleaned

    def save(self, commit: bool = True) -> ProductVariant:
        variant = super().save(commit=False)
        if commit:
            variant_save_changed(variant=variant, form=self)
        return variant


def variant_save_changed(*, variant: ProductVariant, form: forms.ModelForm) -> None:
    """Insert a new variant, or write only the columns this form changed (never stock) of an existing one."""
    if variant._state.adding:
        variant.save()
        return
    columns = {field.name for field in ProductVariant._meta.concrete_fields} - {"stock", "id"}
    variant.save(update_fields=[name for name in form.changed_data if name in columns])


def stock_changes_check(variant_forms) -> None:
    """Lock the variants about to change (in pk order, like checkout) and refuse a change below zero.

    Runs inside the admin's transaction, so the rows stay locked until the changes are written."""
    wanted = {
        form.instance.pk: form
        for form in variant_forms
        if form.instance.pk and getattr(form, "cleaned_data", None) and form.cleaned_data.get("stock_change")
    }
    if not wanted:
        return
    # This runs before the page writes the product row: its product is locked first, as that write and
    # the CSV import (products, then variants) take them, or an import in between deadlocks with us.
    product_ids = sorted({form.instance.product_id for form in wanted.values()})
    list(Product.objects.select_for_update().filter(pk__in=product_ids).order_by("pk").values_list("pk", flat=True))
    rows = ProductVariant.objects.select_for_update().filter(pk__in=sorted(wanted)).order_by("pk")
    for pk, stock in rows.values_list("pk", "stock"):
        change = wanted[pk].cleaned_data["stock_change"]
        if stock + change < 0:
            wanted[pk].add_error(
                "stock_change",
                f"Stock is now {stock} (it changed since the page was loaded?): {change:+d} would take it below zero.",
            )


def stock_changes_apply(request: HttpRequest, variant_forms) -> None:
    """Apply each form's stock change through the service, in pk order, and say what happened."""
    changes = sorted(
        (form.instance.pk, form.cleaned_data["stock_change"], form.cleaned_data["stock_reason"], form.instance.sku)
        for form in variant_forms
        if form.cleaned_data.get("stock_change") and not form.cleaned_data.get("DELETE")
    )
    for pk, change, reason, sku in changes:
        try:
            adjustment = variant_stock_adjust(variant_id=pk, change=change, reason=reason, actor=request.user)
        except StockAdjustmentError as error:  # checked under the lock already; kept for a clear message
            messages.error(request, f"{sku}: {error}")
            raise
        messages.info(request, f"{sku}: stock {adjustment.stock_before} → {adjustment.stock_after} ({change:+d}).")


class VariantInlineFormSet(BaseInlineFormSet):
    def clean(self) -> None:
        super().clean()
        stock_changes_check(form for form in self.forms if not self._should_delete_form(form))


class ProductVariantInline(admin.TabularInline):
    model = ProductVariant
    form = VariantAdminForm
    formset = VariantInlineFormSet
    fields = (
        "sku",
        "metal",
        "ring_size",
        "price",
        "stock",
        "stock_change",
        "stock_reason",
        "low_stock_threshold",
        "is_active",
        "position",
    )
    readonly_fields = ("stock",)
    extra = 1
    # A variant is retired by unticking "Active", never deleted here: deleting took its whole stock history
    # with it (issue 20). StockAdjustment.variant is PROTECT as well, for every other path.
    can_delete = False


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

    def save_formset(self, request, form, formset, change) -> None:
        super().save_formset(request, form, formset, change)
        if formset.model is ProductVariant:
            stock_changes_apply(request, formset.forms)

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


class StockAdjustmentInline(admin.TabularInline):
    """The variant's stock history, newest first (read-only: adjustments are made with the fields above)."""

    model = StockAdjustment
    fields = ("created_at", "change", "stock_before", "stock_after", "reason", "note", "actor")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    verbose_name_plural = "stock history"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor")

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ProductVariant)
class ProductVariantAdmin(admin.ModelAdmin):
    form = VariantAdminForm
    list_display = ("sku", "product", "metal", "ring_size", "price", "stock", "adjust", "is_active")
    list_display_links = ("sku",)
    # Price only: stock changes by recorded adjustments on the variant's page ("Adjust stock").
    list_editable = ("price",)
    list_filter = ("metal", "is_active")
    list_select_related = ("product",)
    search_fields = ("sku", "product__name")
    autocomplete_fields = ("product",)
    readonly_fields = ("stock",)
    fieldsets = (
        (None, {"fields": ("product", "sku", "metal", "ring_size", "price", "is_active", "position")}),
        ("Stock", {"fields": ("stock", "stock_change", "stock_reason", "low_stock_threshold")}),
    )
    inlines = (StockAdjustmentInline,)

    class Media:
        css = {"all": ("css/admin-catalog.css",)}  # compact price and stock inputs in the list

    @admin.display(description="Stock change")
    def adjust(self, obj: ProductVariant) -> str:
        return format_html(
            '<a href="{}">Adjust stock</a>', reverse("admin:catalog_productvariant_change", args=[obj.pk])
        )

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)

        class LockedStockForm(form):
            def clean(self):
                cleaned = super().clean()
                stock_changes_check([self])
                return cleaned

        return LockedStockForm

    def save_model(self, request, obj, form, change) -> None:
        if form is None or not hasattr(form, "changed_data"):
            super().save_model(request, obj, form, change)
            return
        variant_save_changed(variant=obj, form=form)

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        if "stock_change" in form.fields:
            stock_changes_apply(request, [form])


@admin.register(StockAdjustment)
class StockAdjustmentAdmin(ReadOnlyAdmin):
    """Every stock change made by staff: who, when, why, before and after. Read-only."""

    list_display = ("created_at", "variant", "change", "stock_before", "stock_after", "reason", "actor")
    list_filter = ("reason", "created_at")
    list_select_related = ("variant__product", "actor")
    search_fields = ("variant__sku", "variant__product__name", "note")
    date_hierarchy = "created_at"


# --- Product photos (helper E, issue #5): adding one goes through the checked upload form ------------
admin.site.register(ProductImage, ProductImageAdmin)
