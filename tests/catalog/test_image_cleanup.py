"""Stored photo files follow their ProductImage row: whichever way a row is deleted (the service, the
product admin's inline delete box, a product's cascade), its master and renditions are removed once the
deletion commits, except files another row still uses. Local storage and moto's S3 server."""

import logging
from pathlib import Path

import pytest
from django.db import transaction
from django.urls import reverse

from catalog.models import Product, ProductImage
from catalog.services.image_records import product_image_create, product_image_delete, product_image_files_delete
from catalog.signals import ImageFilesCleanup
from tests.catalog.test_images import upload
from tests.catalog.test_images_s3 import s3, use_bucket  # noqa: F401 (the moto bucket fixture)
from tests.factories import ProductFactory, StaffUserFactory
from tests.media import samples
from tests.servers import free_port

pytestmark = pytest.mark.django_db


@pytest.fixture(params=["local", "s3"])
def stored(request, settings):
    """The names currently held by the media storage (local folder or the moto bucket)."""
    if request.param == "s3":
        bucket = request.getfixturevalue("s3")
        return lambda: set(bucket.keys())
    root = Path(settings.MEDIA_ROOT)
    return lambda: {path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file()}


def photo(product: Product, alt_text: str = "Ring on linen") -> ProductImage:
    return product_image_create(product=product, file=upload("ring.jpg", samples.photo(800, 600)), alt_text=alt_text)


def names_of(image: ProductImage) -> set[str]:
    return {image.image.name, *image.rendition_names}


def cleanups(callbacks) -> list[ImageFilesCleanup]:
    return [callback for callback in callbacks if isinstance(callback, ImageFilesCleanup)]


def delete_then_fail(image: ProductImage) -> None:
    """A request that deletes a photo and then fails, so its transaction (or savepoint) rolls back."""
    with transaction.atomic():
        product_image_delete(image=image)
        raise RuntimeError("the request failed after the delete")


def change_form(product: Product, images: list[ProductImage], delete: set[int]) -> dict[str, str]:
    """The product admin's change form as the browser posts it, ticking "Delete" on the chosen photos."""
    data = {
        "name": product.name,
        "slug": product.slug,
        "category": str(product.category_id),
        "metal": product.metal,
        "gemstone": product.gemstone,
        "description": product.description,
        "is_active": "on",
        "seo_description": "",
        "variants-TOTAL_FORMS": "0",
        "variants-INITIAL_FORMS": "0",
        "variants-MIN_NUM_FORMS": "0",
        "variants-MAX_NUM_FORMS": "1000",
        "images-TOTAL_FORMS": str(len(images)),
        "images-INITIAL_FORMS": str(len(images)),
        "images-MIN_NUM_FORMS": "0",
        "images-MAX_NUM_FORMS": "1000",
    }
    for index, image in enumerate(images):
        prefix = f"images-{index}-"
        data |= {
            f"{prefix}id": str(image.pk),
            f"{prefix}product": str(product.pk),
            f"{prefix}alt_text": image.alt_text,
            f"{prefix}variant": "",
            f"{prefix}position": str(image.position),
        }
        if image.pk in delete:
            data[f"{prefix}DELETE"] = "on"
    return data


def test_admin_inline_delete_box_removes_that_photos_files(stored, client, django_capture_on_commit_callbacks):
    product = ProductFactory()
    kept, removed = photo(product, "Front"), photo(product, "Side")
    client.force_login(StaffUserFactory())

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post(
            reverse("admin:catalog_product_change", args=[product.pk]),
            change_form(product, [kept, removed], delete={removed.pk}),
        )

    assert response.status_code == 302, response.context["errors"] if response.context else response
    assert list(product.images.all()) == [kept]
    assert len(cleanups(callbacks)) == 1
    assert stored() == names_of(kept)


def test_deleting_a_product_removes_all_its_photos_files_in_one_cleanup(
    stored, django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    other = photo(ProductFactory(), "Another product's photo")
    product = ProductFactory()
    photos = [photo(product, "Front"), photo(product, "Side")]
    everything = names_of(other) | names_of(photos[0]) | names_of(photos[1])
    assert stored() == everything

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        product.delete()

    (cleanup,) = cleanups(callbacks)  # the cascade's rows share one after-commit cleanup
    assert set(cleanup.names) == names_of(photos[0]) | names_of(photos[1])
    assert stored() == everything  # nothing goes before the commit
    with django_assert_max_num_queries(1):  # one reference check for the whole batch of names
        cleanup()
    assert stored() == names_of(other)


def test_service_delete_goes_through_the_same_single_cleanup(stored, django_capture_on_commit_callbacks):
    image = photo(ProductFactory())

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        product_image_delete(image=image)

    assert len(cleanups(callbacks)) == 1
    assert not ProductImage.objects.exists()
    assert stored() == set()


def test_rolled_back_delete_keeps_the_files(stored, django_capture_on_commit_callbacks):
    image = photo(ProductFactory())
    pk = image.pk  # delete() clears it on the instance, even when rolled back

    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(RuntimeError):
        delete_then_fail(image)

    assert cleanups(callbacks) == []
    assert ProductImage.objects.filter(pk=pk).exists()
    assert stored() == names_of(image)


def test_rolled_back_savepoint_keeps_only_its_own_rows_files(settings, django_capture_on_commit_callbacks):
    product = ProductFactory()
    gone, kept = photo(product, "Gone"), photo(product, "Kept")
    kept_pk = kept.pk

    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        product_image_delete(image=gone)
        with pytest.raises(RuntimeError):
            delete_then_fail(kept)  # only this savepoint is rolled back

    root = Path(settings.MEDIA_ROOT)
    remaining = {path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file()}
    assert remaining == names_of(kept)
    assert list(ProductImage.objects.values_list("pk", flat=True)) == [kept_pk]


def test_files_another_row_still_uses_are_kept(stored, django_capture_on_commit_callbacks):
    product = ProductFactory()
    image = photo(product)
    master, first, second, *rest = [image.image.name, *image.rendition_names]
    # Loaders may point several rows at one file (bench/catalog_data.py does): as master or as rendition.
    ProductImage.objects.create(product=product, image=master, alt_text="Same master")
    ProductImage.objects.create(
        product=ProductFactory(), image=first, alt_text="Rendition as master", renditions=[image.renditions[1]]
    )

    with django_capture_on_commit_callbacks(execute=True):
        product_image_delete(image=image)

    assert stored() == {master, first, second}
    assert not set(rest) & stored()


def test_files_check_ignores_blank_names_and_asks_nothing_for_none(django_assert_num_queries):
    with django_assert_num_queries(0):
        product_image_files_delete(names=["", ""])


def test_s3_down_during_cleanup_logs_a_warning_and_the_row_stays_deleted(
    s3,  # noqa: F811 (the fixture imported above)
    settings,
    monkeypatch,
    caplog,
    django_capture_on_commit_callbacks,
):
    image = photo(ProductFactory())
    names = names_of(image)
    use_bucket(settings, monkeypatch, endpoint=f"http://127.0.0.1:{free_port()}", bucket=s3.bucket, attempts=1)

    with caplog.at_level(logging.WARNING), django_capture_on_commit_callbacks(execute=True) as callbacks:
        product_image_delete(image=image)  # raises nothing, during the delete or after the commit

    assert len(cleanups(callbacks)) == 1
    assert not ProductImage.objects.exists()
    (record,) = [r for r in caplog.records if getattr(r, "event", None) == "image_files_delete_failed"]
    assert record.levelno == logging.WARNING
    assert record.names == len(names)
    assert record.deleted == 0
    assert record.left == sorted(names)  # named, so they can be removed by hand
    assert "testing" not in record.getMessage() + str(vars(record))  # no credentials in the log line
    assert set(s3.keys()) == names  # left for a later sweep; nothing was half-reported as deleted


@pytest.mark.django_db(transaction=True)
def test_admin_inline_delete_really_committed_removes_the_files(client, settings):
    """No captured callbacks: the admin's own transaction commits and the cleanup runs for real."""
    product = ProductFactory()
    kept, removed = photo(product, "Front"), photo(product, "Side")
    client.force_login(StaffUserFactory())
    root = Path(settings.MEDIA_ROOT)

    response = client.post(
        reverse("admin:catalog_product_change", args=[product.pk]),
        change_form(product, [kept, removed], delete={removed.pk}),
    )

    assert response.status_code == 302
    assert {path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file()} == names_of(kept)
    Product.objects.filter(pk=product.pk).delete()  # autocommit: the cascade commits at once
    assert [path for path in root.rglob("*") if path.is_file()] == []
