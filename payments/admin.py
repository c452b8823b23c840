"""Payments in the admin: read-only records of Stripe's side, and the staff refund form (issue #11).

Kept out of orders/admin.py on purpose: refunds need their own permission (``payments.add_refund``)
and everything here writes only through ``payments.refunds``.
"""

from decimal import Decimal

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from catalog.admin import ReadOnlyAdmin
from catalog.money import format_money

from .models import Payment, Refund, StripeEvent
from .refunds import RefundError, payment_refund, payment_refundable, refund_key_issue


class RefundForm(forms.Form):
    amount = forms.DecimalField(
        label=f"Amount to refund ({settings.SHOP_CURRENCY_SYMBOL})",
        max_digits=12,
        decimal_places=2,
        min_value=Decimal("0.01"),
    )
    restock = forms.BooleanField(
        label="Put the pieces back on sale (full refund of a paid order only; cancels the order)", required=False
    )
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=64)


class RefundInline(admin.TabularInline):
    model = Refund
    extra = 0
    fields = ("created_at", "amount", "status", "source", "restock", "actor", "stripe_refund_id")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = ("intent_id", "order", "amount", "currency", "status", "created_at", "refund_link")
    list_filter = ("status",)
    search_fields = ("intent_id", "order__number", "order__email")
    readonly_fields = ("order", "intent_id", "amount", "currency", "status", "succeeded_at", "created_at", "updated_at")
    list_select_related = ("order",)
    inlines = [RefundInline]

    @admin.display(description="Refund")
    def refund_link(self, obj: Payment) -> str:
        if obj.succeeded_at is None:
            return "—"
        return format_html('<a href="{}">Refund…</a>', reverse("admin:payments_payment_refund", args=[obj.pk]))

    def get_urls(self):
        return [
            path(
                "<int:payment_id>/refund/",
                self.admin_site.admin_view(self.refund_view),
                name="payments_payment_refund",
            ),
            *super().get_urls(),
        ]

    def refund_view(self, request, payment_id: int):
        """Refund part or all of a card payment through Stripe; the form's key makes a double submit harmless."""
        if not request.user.has_perm("payments.add_refund"):
            raise PermissionDenied
        payment = get_object_or_404(Payment.objects.select_related("order"), pk=payment_id)
        remaining = payment_refundable(payment=payment)
        form = RefundForm(request.POST or None, initial={"amount": remaining, "idempotency_key": refund_key_issue()})
        if request.method == "POST" and form.is_valid():
            try:
                refund = payment_refund(
                    payment=payment,
                    amount=form.cleaned_data["amount"],
                    actor=request.user,
                    restock=form.cleaned_data["restock"],
                    idempotency_key=form.cleaned_data["idempotency_key"],
                )
            except RefundError as error:
                form.add_error(None, str(error))
            else:
                self.message_user(
                    request,
                    f"Refunded {format_money(refund.amount, pence=True)} for order {payment.order.number}.",
                    messages.SUCCESS,
                )
                return redirect("admin:payments_payment_change", payment.pk)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Refund order {payment.order.number}",
            "payment": payment,
            "remaining": remaining,
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/payments/refund.html", context, status=400 if form.errors else 200)


@admin.register(Refund)
class RefundAdmin(ReadOnlyAdmin):
    list_display = ("payment", "amount", "status", "source", "restock", "actor", "created_at")
    list_filter = ("status", "source")
    list_select_related = ("payment", "actor")


@admin.register(StripeEvent)
class StripeEventAdmin(ReadOnlyAdmin):
    list_display = ("event_id", "type", "outcome", "received_at")
    list_filter = ("type", "outcome")
