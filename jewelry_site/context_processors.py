"""Template context every page needs (shop name, currency)."""

from django.conf import settings


def shop(request):
    return {
        "SHOP_NAME": settings.SHOP_NAME,
        "SHOP_CURRENCY": settings.SHOP_CURRENCY,
        "SHOP_CURRENCY_SYMBOL": settings.SHOP_CURRENCY_SYMBOL,
    }
