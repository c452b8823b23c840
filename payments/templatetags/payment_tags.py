"""Template helpers for an order's card payment status (read-only)."""

from django import template

register = template.Library()


@register.simple_tag
def card_payment_confirming(order) -> bool:
    """Stripe accepted a card for this order but its signed webhook has not reached us yet."""
    return order.payments.filter(status__in=("succeeded", "processing"), succeeded_at__isnull=True).exists()
