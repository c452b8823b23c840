"""Keep derived catalogue data in step with the rows it comes from (connected in CatalogConfig.ready).

Two kinds of derived data: each product's stored price range (catalog.services.product_listing_refresh)
and the cached page fragments (catalog.cache, made obsolete by a version bump). Receivers only call
those functions. Writes that bypass signals (bulk_create, queryset.update) call them themselves.
"""

from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver

from .cache import catalog_changed
from .models import Category, Collection, Product, ProductImage, ProductVariant
from .services import product_listing_refresh

LISTING_FIELDS = {"price_from", "price_to"}


@receiver(post_save, sender=ProductVariant, dispatch_uid="catalog-variant-saved")
@receiver(post_delete, sender=ProductVariant, dispatch_uid="catalog-variant-deleted")
def variant_changed(sender, instance: ProductVariant, using: str, **kwargs) -> None:
    product_listing_refresh(product_ids=[instance.product_id], using=using)


@receiver(post_save, sender=Product, dispatch_uid="catalog-product-saved")
def product_saved(sender, instance: Product, using: str, update_fields=None, **kwargs) -> None:
    if update_fields is not None and not LISTING_FIELDS & set(update_fields):
        catalog_changed(using=using)
        return
    # Product.save() writes every column, including a price range this instance may have read before
    # a variant changed; recomputing after the save puts the true range back.
    product_listing_refresh(product_ids=[instance.pk], using=using)


@receiver(post_delete, sender=Product, dispatch_uid="catalog-product-deleted")
@receiver(post_save, sender=Category, dispatch_uid="catalog-category-saved")
@receiver(post_delete, sender=Category, dispatch_uid="catalog-category-deleted")
@receiver(post_save, sender=Collection, dispatch_uid="catalog-collection-saved")
@receiver(post_delete, sender=Collection, dispatch_uid="catalog-collection-deleted")
@receiver(post_save, sender=ProductImage, dispatch_uid="catalog-image-saved")
@receiver(post_delete, sender=ProductImage, dispatch_uid="catalog-image-deleted")
@receiver(m2m_changed, sender=Product.collections.through, dispatch_uid="catalog-collections-changed")
def catalogue_row_changed(sender, using: str, **kwargs) -> None:
    catalog_changed(using=using)
