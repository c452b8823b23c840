"""Product photos as records (issue #5): each photo's row, its master and renditions in storage.

Every photo, uploaded through Django, sent straight to S3 by the browser or prepared by the demo
loader, goes through catalog.images (Pillow validation, re-encoding without metadata, renditions) and
is written through catalog.storage (local disk or the S3 bucket). Call these outside a transaction:
they write to storage first and then commit the row, removing what they wrote if the row fails.
"""

import posixpath
import uuid
from collections.abc import Iterable
from typing import IO

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import Q

from ..image_slot import image_processing_slot
from ..images import ImageRejectedError, ProcessedImage, image_check_size, image_process, renditions_from_master
from ..models import Product, ProductImage, ProductVariant
from ..storage import object_read, objects_delete, objects_save, upload_delete, upload_read


def product_image_create(
    *,
    product: Product,
    alt_text: str,
    file: IO[bytes] | None = None,
    upload_key: str | None = None,
    processed: ProcessedImage | None = None,
    variant: ProductVariant | None = None,
    position: int = 0,
) -> ProductImage:
    """Validate, re-encode and store a photo with its renditions, and record it; give exactly one source.

    ``file``: an upload through Django. ``upload_key``: a file the browser sent straight to S3 under
    uploads/ (removed once read, kept or not). ``processed``: a photo catalog.images.image_process has
    already made (the demo loader does that CPU work in worker processes). Raises ValidationError for
    the fields and ImageRejectedError for the photo, leaving nothing of its own in storage; a raw upload
    is removed once stored or refused by Pillow, and otherwise left for the form to be sent again (the
    bucket's lifecycle rule on uploads/ clears what is never sent again)."""
    if sum(source is not None for source in (file, upload_key, processed)) != 1:
        raise TypeError("product_image_create takes exactly one of file, upload_key and processed.")
    alt_text = _image_fields_clean(product=product, alt_text=alt_text, variant=variant)
    if file is not None:
        size = getattr(file, "size", None)
        if size is not None:
            image_check_size(size)  # refuse before reading a byte
        with image_processing_slot():  # one decode at a time on this machine (busy: ImageBusyError)
            processed = image_process(file.read(settings.IMAGE_UPLOAD_MAX_BYTES + 1))
    elif upload_key is not None:
        data = upload_read(key=upload_key)
        try:
            with image_processing_slot():
                processed = image_process(data)
        except ImageRejectedError:
            upload_delete(key=upload_key)
            raise
    image = _product_image_store(
        product=product, processed=processed, alt_text=alt_text, variant=variant, position=position
    )
    if upload_key is not None:
        upload_delete(key=upload_key)
    return image


def product_image_rebuild_renditions(*, image: ProductImage) -> ProductImage:
    """Make the renditions again from the stored master (new keys, so cached copies never go stale)."""
    data = object_read(image.image.name)
    with image_processing_slot():
        width, height, renditions = renditions_from_master(data)
    folder = posixpath.dirname(image.image.name)
    token = uuid.uuid4().hex[:8]
    files = [(f"{folder}/w{r.width}-{token}.{r.extension}", r.data, r.content_type) for r in renditions]
    names = objects_save(files)
    old_names = image.rendition_names
    try:
        with transaction.atomic():
            image.width, image.height = width, height
            image.renditions = _rendition_records(renditions, names)
            image.save(update_fields=["width", "height", "renditions"])
    except BaseException:
        objects_delete(names)
        raise
    transaction.on_commit(lambda: objects_delete(old_names))
    return image


def product_image_delete(*, image: ProductImage) -> None:
    """Delete the row; its stored files go once that commits (catalog.signals, as for any row deletion)."""
    image.delete()


def product_image_files_delete(*, names: Iterable[str], using: str = DEFAULT_DB_ALIAS) -> None:
    """Remove stored photo files that no ProductImage row refers to any more, as master or rendition.

    Runs after the deleting transaction commits, so the check sees what stays (loaders such as
    bench/catalog_data.py point many rows at one file). One query for the whole batch of names.
    """
    wanted = {name for name in names if name}
    if not wanted:
        return
    if connections[using].features.supports_json_field_contains:  # Postgres: exact jsonb containment
        in_renditions = [Q(renditions__contains=[{"name": name}]) for name in wanted]
    else:  # SQLite (local runs): a text match that can only over-select; the exact check is below
        in_renditions = [Q(renditions__icontains=name) for name in wanted]
    still_used: set[str] = set()
    referring = ProductImage.objects.using(using).filter(Q(image__in=wanted) | Q(*in_renditions, _connector=Q.OR))
    for image, renditions in referring.values_list("image", "renditions"):
        still_used.add(image)
        still_used.update(r.get("name") for r in renditions or [] if isinstance(r, dict))
    objects_delete(sorted(wanted - still_used))


def _image_fields_clean(*, product: Product, alt_text: str, variant: ProductVariant | None) -> str:
    alt_text = (alt_text or "").strip()
    if not alt_text:
        raise ValidationError({"alt_text": "Describe the photo for shoppers using screen readers."})
    if len(alt_text) > ProductImage._meta.get_field("alt_text").max_length:
        raise ValidationError({"alt_text": "Keep the description under 200 characters."})
    if variant is not None and variant.product_id != product.pk:
        raise ValidationError({"variant": "Choose a variant of this product."})
    return alt_text


def _rendition_records(renditions: list, names: list[str]) -> list[dict]:
    return [
        {"width": r.width, "height": r.height, "format": r.format, "name": name, "bytes": len(r.data)}
        for r, name in zip(renditions, names, strict=True)
    ]


def _product_image_store(
    *, product: Product, processed: ProcessedImage, alt_text: str, variant: ProductVariant | None, position: int
) -> ProductImage:
    """Write master and renditions under a fresh key, then the row; nothing is left behind on failure."""
    folder = f"products/{product.slug}/{uuid.uuid4().hex}"
    master = processed.master
    files = [(f"{folder}/original.{master.extension}", master.data, master.content_type)]
    files += [(f"{folder}/w{r.width}.{r.extension}", r.data, r.content_type) for r in processed.renditions]
    names = objects_save(files)
    try:
        with transaction.atomic():
            image = ProductImage(
                product=product,
                variant=variant,
                image=names[0],
                width=master.width,
                height=master.height,
                alt_text=alt_text,
                position=position,
                renditions=_rendition_records(processed.renditions, names[1:]),
            )
            image.save()
    except BaseException:
        objects_delete(names)
        raise
    return image
