"""Money as the shopper reads it: the one place that writes the shop's currency symbol (SHOP_CURRENCY_SYMBOL).

It lives in ``catalog``, the lowest app, so cart, orders, payments and the templates (the ``money``
filter) can all use it without an arrow running up.
"""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.conf import settings


def format_money(value, *, pence: bool = False) -> str:
    """£1,250 for whole amounts, £1,250.50 otherwise (``pence=True``: always £1,250.00); '' for a non-number."""
    if value is None or value == "":
        return ""
    try:
        amount = Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    except (InvalidOperation, ValueError):
        return ""
    if not amount.is_finite():
        return ""
    whole = amount == amount.to_integral_value() and not pence
    text = f"{amount:,.0f}" if whole else f"{amount:,.2f}"
    return f"{settings.SHOP_CURRENCY_SYMBOL}{text}"
