"""Staff tools for orders: list, search, read-only lines, status workflow buttons, CSV export, low stock."""

import csv

from django.contrib import admin, messages
from django.contrib.admin.utils import flatten_fieldsets
from django.core.exceptions import PermissionDenied
from django.db.models import F
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join

from accounts.models import POSTAL_ADDRESS_FIELDS
from catalog.admin import ReadOnlyAdmin

from .guest_links import order_guest_links_revoke
from .models import LowStockVariant, Order, OrderEvent, OrderLine, OrderStatus, PaymentMethod
from .services import OrderError
from .workflow import order_allowed_transitions, order_payment_record, order_staff_cancel, order_transition

TRANSITION_LABELS = {
    OrderStatus.PAID: "Record payment",
    OrderStatus.READY_FOR_COLLECTION: "Mark ready for collection",
    OrderStatus.SHIPPED: "Mark shipped",
    OrderStatus.DELIVERED: "Mark delivered",
    OrderStatus.CANCELLED: "Cancel order (restock; refund a card)",
}


def _order_step(*, order: Order, to_status: str, actor, note: str, carrier=None, tracking_number=None) -> Order:
    """One workflow step from the admin: payment and cancel through their own services (the card side first)."""
    if to_status == OrderStatus.PAID:
        return order_payment_record(order=order, actor=actor, note=note)
    if to_status == OrderStatus.CANCELLED:
        return order_staff_cancel(order=order, actor=actor, note=note)
    return order_transition(
        order=order, to_status=to_status, actor=actor, note=note, carrier=carrier, tracking_number=tracking_number
    )


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0
    can_delete = False
    fields = (
        "product_name",
        "sku",
        "options_label",
        "unit_price",
        "quantity",
        "engraving",
        "engraving_fee",
        "line_total",
    )
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class OrderEventInline(admin.TabularInline):
    model = OrderEvent
    extra = 0
    can_delete = False
    fields = ("created_at", "from_status", "to_status", "actor", "note")
    readonly_fields = fields
    verbose_name_plural = "history"

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


def _transition_action(to_status: str):
    def action(modeladmin, request, queryset):
        if not modeladmin.has_change_permission(request):  # also refused by allowed_permissions; never run
            raise PermissionDenied
        done, refused = 0, []
        for order in queryset:
            try:
                _order_step(order=order, to_status=to_status, actor=request.user, note="Admin bulk action")
                done += 1
            except OrderError as error:
                refused.append(str(error))
        if done:
            modeladmin.message_user(request, f"{done} order(s) now {OrderStatus(to_status).label.lower()}.")
        for reason in refused:
            modeladmin.message_user(request, f"Not allowed: {reason}", messages.WARNING)

    action.__name__ = f"mark_{to_status}"
    return admin.action(permissions=["change"], description=f"{TRANSITION_LABELS[to_status]} for selected orders")(
        action
    )


# One row per order line, so each piece's engraving sits beside it; the order's address repeats.
SHIPPING_EXPORT_COLUMNS = (
    "number",
    "created_at",
    "status",
    "payment_method",
    "shipping_method",
    "full_name",
    "email",
    "phone",
    "address_line1",
    "address_line2",
    "city",
    "postcode",
    "country",
    "gift_message",
    "sku",
    "product",
    "options",
    "quantity",
    "engraving",
    "order_total",
)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "|", "%")


def formula_safe(value):
    """A cell a spreadsheet will show as text: a leading = + - @ (or tab, CR, |, %) gets a quote before it."""
    if isinstance(value, str) and value.lstrip(" ").startswith(FORMULA_STARTS):
        return f"'{value}"
    return value


@admin.action(permissions=["export"], description="Export selected orders for shipping (CSV)")
def export_csv(modeladmin, request, queryset):
    if not modeladmin.has_export_permission(request):  # also refused by allowed_permissions; never run
        raise PermissionDenied
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="orders-{stamp}.csv"'
    response["Cache-Control"] = "no-store"
    writer = csv.writer(response)
    writer.writerow(SHIPPING_EXPORT_COLUMNS)
    for order in queryset.prefetch_related("lines").order_by("created_at", "pk"):
        for line in order.lines.all():
            row = [
                order.number,
                timezone.localtime(order.created_at).isoformat(timespec="minutes"),
                order.get_status_display(),
                order.get_payment_method_display(),
                order.get_shipping_method_display(),
                order.full_name,
                order.email,
                order.phone,
                order.address_line1,
                order.address_line2,
                order.city,
                order.postcode,
                order.country,
                order.gift_message,
                line.sku,
                line.product_name,
                line.options_label,
                line.quantity,
                line.engraving,
                order.total,
            ]
            writer.writerow([formula_safe(value) for value in row])
    return response


@admin.action(description="Revoke the guest links of selected orders", permissions=["change"])
def revoke_guest_links(modeladmin, request, queryset):
    """Issue #15: a forwarded or leaked confirmation e-mail stops opening the order (links and sessions)."""
    count = 0
    for order in queryset:
        order_guest_links_revoke(order=order, actor=request.user)
        count += 1
    modeladmin.message_user(request, f"Guest links revoked for {count} order(s).", messages.SUCCESS)


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ("number", "placed", "email", "status", "total", "shipping_method", "payment_method")
    list_filter = ("status", "created_at", "shipping_method", "payment_method")
    search_fields = ("number", "email", "full_name")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    list_select_related = False
    view_on_site = False  # the storefront order page is for its owner only, staff included
    inlines = (OrderLineInline, OrderEventInline)
    actions = [
        _transition_action(OrderStatus.PAID),
        _transition_action(OrderStatus.SHIPPED),
        _transition_action(OrderStatus.DELIVERED),
        _transition_action(OrderStatus.CANCELLED),
        export_csv,
        revoke_guest_links,
    ]
    fieldsets = (
        (None, {"fields": ("number", "status", "workflow", "created_at", "user", "email", "payment_method")}),
        (
            "Ship to",
            {"fields": (*POSTAL_ADDRESS_FIELDS, "shipping_method", "gift_message")},
        ),
        ("Amounts", {"fields": ("subtotal", "engraving_total", "shipping_cost", "total")}),
        # Issue #14: filled in before "Mark shipped" (which sends them to the shopper); editable to correct a typo.
        ("Shipment", {"fields": ("carrier", "tracking_number")}),
    )
    SHIPMENT_FIELDS = ("carrier", "tracking_number")

    class Media:
        css = {"all": ("css/admin-orders.css",)}  # one-line numbers and dates: the list fits 1280 px

    @admin.display(description="Placed", ordering="created_at")
    def placed(self, obj: Order) -> str:
        return date_format(timezone.localtime(obj.created_at), "j M Y, H:i")

    def get_readonly_fields(self, request, obj=None):
        # Every field shown is read-only: an order changes only through the workflow buttons.
        return [name for name in flatten_fieldsets(self.fieldsets) if name not in self.SHIPMENT_FIELDS]

    def get_fieldsets(self, request, obj=None):
        if self.has_change_permission(request, obj):
            return self.fieldsets
        # View-only staff: the same page without the workflow buttons.
        (title, options), *rest = self.fieldsets
        fields = tuple(name for name in options["fields"] if name != "workflow")
        return ((title, {**options, "fields": fields}), *rest)

    def has_export_permission(self, request) -> bool:
        return request.user.has_perm(f"{self.opts.app_label}.export_order")

    def changelist_view(self, request, extra_context=None):
        # Django answers an action this user may not run with "No action selected"; a forged POST
        # deserves a plain refusal.
        action = request.POST.get("action", "") if request.method == "POST" else ""
        if action and action not in self.get_actions(request):
            raise PermissionDenied
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # Nothing on the page is editable: no Save buttons (the workflow buttons do the changing).
        extra_context = {
            **(extra_context or {}),
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def has_add_permission(self, request) -> bool:
        return False  # orders come from the checkout, with its stock checks

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # cancel instead, which restocks and leaves a trail

    @admin.display(description="Change status")
    def workflow(self, obj: Order) -> str:
        allowed = sorted(order_allowed_transitions(order=obj), key=list(TRANSITION_LABELS).index)
        if not allowed:
            return "No further changes (final status)."
        # Buttons submit the change form itself to the transition URL (formaction): no nested forms,
        # and the change form's CSRF token goes with them.
        buttons = format_html_join(
            " ",
            '<button type="submit" class="button" formaction="{}" name="to_status" value="{}">{}</button>',
            (
                (reverse("admin:orders_order_transition", args=[obj.pk]), status, TRANSITION_LABELS[status])
                for status in allowed
            ),
        )
        return format_html(
            '<label for="id_transition_note">Note (optional)</label> '
            '<input type="text" id="id_transition_note" name="transition_note" maxlength="500" size="40"> {}',
            buttons,
        )

    def get_urls(self):
        custom = [
            path(
                "<int:pk>/transition/",
                self.admin_site.admin_view(self.transition_view),
                name="orders_order_transition",
            )
        ]
        return custom + super().get_urls()

    def transition_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """POST-only: apply one workflow step through ``order_transition`` (CSRF-checked by the admin)."""
        order = get_object_or_404(Order, pk=pk)
        change_url = reverse("admin:orders_order_change", args=[order.pk])
        if request.method != "POST":
            return HttpResponseRedirect(change_url)
        if not self.has_change_permission(request, order):
            raise PermissionDenied
        to_status = request.POST.get("to_status", "")
        card_cancel = to_status == OrderStatus.CANCELLED and order.payment_method == PaymentMethod.CARD
        if card_cancel and not request.POST.get("confirmed"):  # money may move at Stripe: one more click
            context = {
                **self.admin_site.each_context(request),
                "title": f"Cancel order {order.number}?",
                "order": order,
                "note": request.POST.get("transition_note", ""),
                "opts": self.model._meta,
            }
            return TemplateResponse(request, "admin/orders/cancel_confirm.html", context)
        try:
            _order_step(
                order=order,
                to_status=to_status,
                actor=request.user,
                note=request.POST.get("transition_note", ""),
                # The buttons submit the change form, so the carrier and tracking typed above come along.
                carrier=request.POST.get("carrier") if to_status == OrderStatus.SHIPPED else None,
                tracking_number=request.POST.get("tracking_number") if to_status == OrderStatus.SHIPPED else None,
            )
        except OrderError as error:
            self.message_user(request, str(error), messages.ERROR)
        else:
            label = TRANSITION_LABELS.get(to_status, to_status).lower()
            self.message_user(request, f"Order {order.number}: {label} done.")
        return HttpResponseRedirect(change_url)


class LowStockFilter(admin.SimpleListFilter):
    title = "stock"
    parameter_name = "stock"

    def lookups(self, request, model_admin):
        return (("out", "Sold out"), ("low", "Low (1 to threshold)"))

    def queryset(self, request, queryset):
        if self.value() == "out":
            return queryset.filter(stock=0)
        if self.value() == "low":
            return queryset.filter(stock__gt=0)
        return queryset


@admin.register(LowStockVariant)
class LowStockVariantAdmin(ReadOnlyAdmin):
    """Active variants at or under their low-stock threshold: what to remake or reorder."""

    list_display = ("sku", "piece", "stock", "low_stock_threshold", "edit_link")
    list_filter = (LowStockFilter, "metal")
    search_fields = ("sku", "product__name")
    ordering = ("stock", "sku")
    list_select_related = ("product",)

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .filter(is_active=True, product__is_active=True, stock__lte=F("low_stock_threshold"))
        )

    @admin.display(description="Piece", ordering="product__name")
    def piece(self, obj) -> str:
        return f"{obj.product.name} – {obj.options_label}"

    @admin.display(description="Edit")
    def edit_link(self, obj) -> str:
        return format_html(
            '<a href="{}">Edit variant</a>', reverse("admin:catalog_productvariant_change", args=[obj.pk])
        )


from . import admin_holds  # noqa: E402, F401  (the unpaid holds list, issue 20: its own module)
