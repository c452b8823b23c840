"""Each product's stored price range (issue #7): the lowest and highest price of its active variants.

Stored on the product so shop pages sort and filter one indexed table. catalog.signals calls the
refresh on every variant save, delete and bulk write; nobody else needs to.
"""

from collections.abc import Iterable

from django.db import DEFAULT_DB_ALIAS
from django.db.models import Max, Min, OuterRef, Subquery

from ..models import Product, ProductVariant


def product_price_range_refresh(*, product_ids: Iterable[int] | None, using: str = DEFAULT_DB_ALIAS) -> int:
    """Recompute ``price_from``/``price_to`` from the active variants of these products (all when None).

    One UPDATE with correlated subqueries, so it is right whatever this process holds in memory; the
    update (a CatalogueQuerySet's) bumps the cache versions. Returns the number of products written."""
    active = ProductVariant.objects.filter(product=OuterRef("pk"), is_active=True).order_by().values("product")
    price = Product._meta.get_field("price_from")
    products = Product.objects.using(using).all()
    if product_ids is not None:
        ids = sorted({int(pk) for pk in product_ids})
        if not ids:
            return 0
        products = products.filter(pk__in=ids)
    return products.update(
        price_from=Subquery(active.annotate(value=Min("price")).values("value"), output_field=price),
        price_to=Subquery(active.annotate(value=Max("price")).values("value"), output_field=price),
    )
