"""Template helpers for the storefront: money, badges, JSON-LD and the category navigation."""

import json
from datetime import timedelta

from django import template
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone
from django.utils.safestring import mark_safe

from catalog.models import LOW_STOCK_CARD, Metal
from catalog.money import format_money
from catalog.selectors import category_list_for_request, category_roots, collection_list_for_request
from shop_text import text_without_links

register = template.Library()

NEW_FOR_DAYS = 30
_JSON_ESCAPES = {ord(">"): "\\u003E", ord("<"): "\\u003C", ord("&"): "\\u0026"}


@register.filter
def money(value, pence: bool = False) -> str:
    """``{{ total|money }}``; ``{{ total|money:True }}`` always shows pence."""
    return format_money(value, pence=bool(pence))


@register.filter
def without_links(value) -> str:
    """``{{ order.full_name|without_links }}``: typed text with anything a mail client would link removed,
    for e-mails to an address nobody confirmed (shop_text.text_without_links)."""
    return text_without_links(value)


@register.filter
def is_new(product) -> bool:
    created = getattr(product, "created_at", None)
    return bool(created and created >= timezone.now() - timedelta(days=NEW_FOR_DAYS))


@register.filter
def stock_badge(product) -> str:
    """'Sold out', 'Only N left' or '' for a card (``stock_total`` comes from ``for_listing``)."""
    stock = getattr(product, "stock_total", None)
    if stock is None:
        return ""
    if stock <= 0:
        return "Sold out"
    if stock <= LOW_STOCK_CARD:
        return f"Only {stock} left"
    return ""


@register.filter
def card_metals(product) -> str:
    """The metals a card's piece is sold in ("Yellow gold, platinum +1"); the main metal without them."""
    found = set(filter(None, (getattr(product, "variant_metals", None) or "").split(",")))
    labels = [label for value, label in Metal.choices if value in found]
    if not labels:
        return product.get_metal_display()
    shown = [labels[0], *(label.lower() for label in labels[1:2])]
    more = len(labels) - len(shown)
    return ", ".join(shown) + (f" +{more}" if more else "")


@register.filter
def variant_availability(variant) -> str:
    if not variant.is_available:
        return "Sold out"
    if variant.is_low_stock:
        return f"Only {variant.stock} left"
    return "In stock"


@register.filter
def jsonld(data) -> str:
    """JSON for a <script type="application/ld+json"> block, safe against '</script>' in text."""
    return mark_safe(json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False).translate(_JSON_ESCAPES))  # noqa: S308


@register.inclusion_tag("includes/_category_nav.html", takes_context=True)
def category_nav(context) -> dict:
    """Top-level categories for the header; one query, on every page that extends base.html."""
    request = context.get("request")
    match = getattr(request, "resolver_match", None)
    current = match.kwargs.get("slug") if match and match.view_name == "catalog:category-detail" else None
    categories = category_roots(categories=category_list_for_request(request))
    collection = match.kwargs.get("slug") if match and match.view_name == "catalog:collection-detail" else None
    return {
        "categories": categories,
        "current_slug": current,
        "collections": collection_list_for_request(request),
        "current_collection": collection,
        "request": request,
    }


@register.simple_tag(takes_context=True)
def page_url(context, number) -> str:
    """This list page at ``number`` with the valid filters kept (``filter_query`` from the view)."""
    query = context.get("filter_query", "")
    if int(number) > 1:
        query = f"{query}&page={number}" if query else f"page={number}"
    path = context["request"].path
    return f"{path}?{query}" if query else path
