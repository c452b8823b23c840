"""The floor reference: the cheapest honest Django page that reads the same rows as a catalogue list.

One indexed query (``catalog_product_active_new``: is_active, created_at) for 24 rows, rendered
through a template of about the size of the product list. Catalogue pages are judged against it.
"""

from django.conf import settings
from django.shortcuts import render

from catalog.models import Product


def reference(request):
    products = list(
        Product.objects.filter(is_active=True)
        .order_by("-created_at")
        .values("name", "slug", "description", "metal", "gemstone", "created_at")[: settings.SHOP_PRODUCTS_PER_PAGE]
    )
    return render(request, "bench/reference.html", {"products": products})
