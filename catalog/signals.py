"""Keep derived catalogue data in step with the rows it comes from (connected in CatalogConfig.ready).

Two kinds of derived data: each product's stored price range (catalog.services.price_ranges) and the
cached page fragments (catalog.cache, made obsolete by ``catalog_cache_versions_bump``). Every way the
ORM writes a catalogue row is heard here: save and delete through Django's signals, update(),
bulk_create() and bulk_update() through ``catalogue_rows_written`` (catalog.models.CatalogueQuerySet),
many-to-many changes through m2m_changed. Receivers only call those functions.
"""

from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver

from .cache import catalog_cache_versions_bump
from .events import catalogue_rows_written, variant_stock_changed
from .models import Category, Collection, Product, ProductImage, ProductVariant
from .services.image_records import product_image_files_delete
from .services.price_ranges import product_price_range_refresh

LISTING_FIELDS = {"price_from", "price_to"}


@receiver(post_save, sender=ProductVariant, dispatch_uid="catalog-variant-saved")
@receiver(post_delete, sender=ProductVariant, dispatch_uid="catalog-variant-deleted")
def variant_changed(sender, instance: ProductVariant, using: str, **kwargs) -> None:
    product_price_range_refresh(product_ids=[instance.product_id], using=using)
    if kwargs.get("signal") is post_save:  # a saved variant may have new stock (admin, CSV import)
        variant_stock_changed.send(sender=ProductVariant, variant_ids=[instance.pk], using=using)


@receiver(post_save, sender=Product, dispatch_uid="catalog-product-saved")
def product_saved(sender, instance: Product, using: str, update_fields=None, **kwargs) -> None:
    if update_fields is not None and not LISTING_FIELDS & set(update_fields):
        catalog_cache_versions_bump(using=using)
        return
    # Product.save() writes every column, including a price range this instance may have read before
    # a variant changed; recomputing after the save puts the true range back (and bumps the versions).
    product_price_range_refresh(product_ids=[instance.pk], using=using)


@receiver(post_delete, sender=Product, dispatch_uid="catalog-product-deleted")
@receiver(post_save, sender=Category, dispatch_uid="catalog-category-saved")
@receiver(post_delete, sender=Category, dispatch_uid="catalog-category-deleted")
@receiver(post_save, sender=Collection, dispatch_uid="catalog-collection-saved")
@receiver(post_delete, sender=Collection, dispatch_uid="catalog-collection-deleted")
@receiver(post_save, sender=ProductImage, dispatch_uid="catalog-image-saved")
@receiver(post_delete, sender=ProductImage, dispatch_uid="catalog-image-deleted")
@receiver(m2m_changed, sender=Product.collections.through, dispatch_uid="catalog-collections-changed")
def catalogue_row_changed(sender, using: str, **kwargs) -> None:
    catalog_cache_versions_bump(using=using)


@receiver(catalogue_rows_written, dispatch_uid="catalog-rows-written")
def catalogue_rows_bulk_written(
    sender, using: str, product_ids: set[int], stock_variant_ids: list[int], **kwargs
) -> None:
    if product_ids:
        product_price_range_refresh(product_ids=product_ids, using=using)  # its update() bumps the versions
    else:
        catalog_cache_versions_bump(using=using)
    if stock_variant_ids:
        variant_stock_changed.send(sender=ProductVariant, variant_ids=stock_variant_ids, using=using)


# --- Stored photo files follow their row (image cleanup) ---------------------------------------------
# Every deletion of a ProductImage row (product_image_delete, the admin inline's delete box, a product's
# cascade, queryset.delete()) removes the row's master and rendition files, after the deletion commits
# and only if no remaining row still refers to them. A rolled-back deletion removes nothing. The rows
# deleted in one transaction scope share one cleanup, so a product's cascade costs one check query.
class ImageFilesCleanup:
    """An on_commit callback collecting the file names of the rows deleted in one transaction scope."""

    def __init__(self, using: str, names: list[str]) -> None:
        self.using = using
        self.names = names
        self.done = False

    def __call__(self) -> None:
        self.done = True
        product_image_files_delete(names=self.names, using=self.using)


def _pending_image_cleanup(using: str) -> ImageFilesCleanup | None:
    """The cleanup already waiting for this transaction at the current savepoint, if any.

    Joining only one registered at exactly the same savepoints keeps rollback exact: a savepoint rolled
    back discards that cleanup together with every name added to it (the same way catalog.cache looks
    for its pending bump). Done ones are skipped (tests run callbacks early, inside the transaction).
    """
    connection = transaction.get_connection(using)
    if not connection.in_atomic_block:
        return None
    scope = set(connection.savepoint_ids)
    for sids, func, _robust in reversed(connection.run_on_commit):
        if isinstance(func, ImageFilesCleanup) and not func.done and sids == scope:
            return func
    return None


@receiver(post_delete, sender=ProductImage, dispatch_uid="catalog-image-files-cleanup")
def image_files_delete_on_commit(sender, instance: ProductImage, using: str, **kwargs) -> None:
    names = [instance.image.name, *instance.rendition_names]
    pending = _pending_image_cleanup(using)
    if pending is not None:
        pending.names.extend(names)
    else:
        transaction.on_commit(ImageFilesCleanup(using, names), using=using, robust=True)


# --- end of stored photo files ---
