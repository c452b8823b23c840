from django import template

from wishlist.services import wishlist_contains

register = template.Library()


@register.simple_tag(takes_context=True)
def wishlist_saved(context, product) -> bool:
    """Whether the page's signed-in shopper has saved this product (one query; none when anonymous)."""
    return wishlist_contains(user=context["request"].user, product_id=product.pk)
