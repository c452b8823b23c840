"""Staff's list of unpaid holds (issue 20): what each order waiting for payment keeps off sale, until when,
and how much its client address holds in all (the hold cap: orders/holds.py). Read-only."""

from django.contrib import admin
from django.db.models import F, Sum, Window
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from catalog.admin import ReadOnlyAdmin
from catalog.money import format_money

from .models import HeldOrder, OrderStatus


@admin.register(HeldOrder)
class HeldOrderAdmin(ReadOnlyAdmin):
    """Orders waiting for payment, soonest deadline first; opened by whoever may view orders."""

    list_display = (
        "order_link",
        "created_at",
        "payment_method",
        "pieces",
        "value",
        "one_of_a_kind",
        "payment_deadline",
        "client_ip",
        "address_holds",
    )
    list_filter = ("payment_method", "one_of_a_kind")
    search_fields = ("number", "client_ip")
    ordering = ("payment_deadline", "pk")
    list_display_links = None  # the number links to the order itself, where staff act on it

    def get_queryset(self, request: HttpRequest):
        # The address's total in the same query (a window over the unpaid orders), not one per row.
        return (
            super()
            .get_queryset(request)
            .filter(status=OrderStatus.AWAITING_PAYMENT)
            .annotate(address_pieces=Window(Sum("pieces"), partition_by=[F("client_key")]))
        )

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.has_perm("orders.view_order")  # the roles grant it to order handlers

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    @admin.display(description="Order", ordering="number")
    def order_link(self, obj: HeldOrder) -> str:
        return format_html('<a href="{}">{}</a>', reverse("admin:orders_order_change", args=[obj.pk]), obj.number)

    @admin.display(description="Value (goods)")
    def value(self, obj: HeldOrder) -> str:
        return format_money(obj.goods_total)

    @admin.display(description="Pieces held by its address")
    def address_holds(self, obj: HeldOrder) -> str:
        return str(obj.address_pieces) if obj.client_key else "–"
