"""Product images on local storage (the embedded default): validation, re-encoding, renditions,
the admin upload form, the rendering partial and `manage.py rebuild_renditions`."""

import io
from pathlib import Path

import pytest
from django.contrib.admin.models import LogEntry
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import DataError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from PIL import Image

from catalog.images import ImageRejectedError, image_process
from catalog.models import ProductImage
from catalog.services.image_records import product_image_create, product_image_delete
from tests.factories import (
    ProductFactory,
    ProductImageFactory,
    ProductVariantFactory,
    StaffUserFactory,
    UserFactory,
)
from tests.media import samples

pytestmark = pytest.mark.django_db

# (file name, bytes, words the staff member should read)
REFUSED = [
    pytest.param("notes.jpg", samples.text_named_jpg(), "not a JPEG, PNG or WebP", id="text-renamed-jpg"),
    pytest.param("logo.svg", samples.svg_with_script(), "SVG", id="svg-with-script"),
    pytest.param("bomb.png", samples.decompression_bomb_png(), "million pixels", id="decompression-bomb"),
    pytest.param("anim.gif", samples.gif(), "not a JPEG, PNG or WebP", id="gif"),
    pytest.param("half.jpg", samples.truncated_jpeg(), "damaged or incomplete", id="truncated-jpeg"),
    pytest.param("empty.jpg", b"", "empty", id="empty"),
]


def upload(name: str, data: bytes, content_type: str = "image/jpeg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


def stored_files(media_root: Path) -> list[Path]:
    return [path for path in media_root.rglob("*") if path.is_file()] if media_root.exists() else []


def open_stored(image: ProductImage, name: str) -> Image.Image:
    with image.image.storage.open(name, "rb") as file:
        return Image.open(io.BytesIO(file.read()))


def test_photo_is_reencoded_with_webp_and_jpeg_renditions(settings):
    product = ProductFactory(slug="aurora-ring")
    image = product_image_create(
        product=product, file=upload("ring.jpg", samples.photo(1600, 1200)), alt_text="Aurora ring, front"
    )

    image.refresh_from_db()
    assert (image.width, image.height) == (1600, 1200)
    assert image.image.name.startswith("products/aurora-ring/")
    assert image.image.name.endswith("/original.jpg")
    assert sorted((r["width"], r["format"]) for r in image.renditions) == [
        (w, f) for w in (320, 640, 960, 1400) for f in ("jpeg", "webp")
    ]
    for rendition in image.renditions:
        stored = open_stored(image, rendition["name"])
        assert stored.format == rendition["format"].upper()
        assert stored.size == (rendition["width"], rendition["height"])
        assert rendition["height"] == round(1200 * rendition["width"] / 1600)
        assert rendition["bytes"] == image.image.storage.size(rendition["name"])
    # master plus eight renditions, all under MEDIA_ROOT
    assert len(stored_files(Path(settings.MEDIA_ROOT))) == 9
    assert (
        image.src_url
        == f"/media/{next(r['name'] for r in image.renditions if r['width'] == 960 and r['format'] == 'jpeg')}"
    )


def test_processing_and_storing_are_separate_steps(settings):
    # The CPU half (what the demo loader runs in worker processes) writes nothing anywhere...
    processed = image_process(samples.photo(1600, 1200))
    assert not ProductImage.objects.exists()
    assert stored_files(Path(settings.MEDIA_ROOT)) == []
    assert (processed.master.width, processed.master.height, processed.master.format) == (1600, 1200, "jpeg")

    # ...and the storing half records exactly what it was given.
    image = product_image_create(
        product=ProductFactory(), processed=processed, alt_text="Ring, prepared elsewhere", position=2
    )
    image.refresh_from_db()
    assert (image.width, image.height, image.position) == (1600, 1200, 2)
    assert sorted((r["width"], r["format"], r["bytes"]) for r in image.renditions) == sorted(
        (r.width, r.format, len(r.data)) for r in processed.renditions
    )
    with image.image.storage.open(image.image.name, "rb") as file:
        assert file.read() == processed.master.data
    assert len(stored_files(Path(settings.MEDIA_ROOT))) == 9


def test_storing_a_processed_photo_still_checks_the_fields(settings):
    with pytest.raises(ValidationError, match="screen readers"):
        product_image_create(product=ProductFactory(), processed=image_process(samples.photo()), alt_text=" ")
    assert stored_files(Path(settings.MEDIA_ROOT)) == []


def test_quick_encoding_gives_the_same_renditions_with_lighter_settings():
    data = samples.photo(1600, 1200)
    best, quick = image_process(data), image_process(data, quick=True)

    assert [(r.width, r.height, r.format) for r in quick.renditions] == [
        (r.width, r.height, r.format) for r in best.renditions
    ]
    best_jpeg = Image.open(io.BytesIO(next(r.data for r in best.renditions if r.format == "jpeg")))
    quick_jpeg = Image.open(io.BytesIO(next(r.data for r in quick.renditions if r.format == "jpeg")))
    assert best_jpeg.info.get("progressive")  # uploads: progressive JPEG
    assert not quick_jpeg.info.get("progressive")  # demo photos: baseline, quicker to encode
    for rendition in quick.renditions:
        assert Image.open(io.BytesIO(rendition.data)).size == (rendition.width, rendition.height)


def test_small_renditions_of_a_large_photo_have_the_exact_sizes():
    # 640 and 320 are resized from a larger rendition (960, 640) rather than from the 3000px original.
    processed = image_process(samples.photo(3000, 2000))
    sizes = {(r.width, r.format): Image.open(io.BytesIO(r.data)).size for r in processed.renditions}
    assert sizes == {
        (width, fmt): (width, round(2000 * width / 3000)) for width in (320, 640, 960, 1400) for fmt in ("jpeg", "webp")
    }
    assert [r.width for r in processed.renditions] == [320, 320, 640, 640, 960, 960, 1400, 1400]


def test_small_photo_is_never_upscaled():
    image = product_image_create(
        product=ProductFactory(), file=upload("small.png", samples.photo(500, 500, "PNG")), alt_text="A small photo"
    )
    assert sorted({r["width"] for r in image.renditions}) == [320, 500]
    assert image.image.name.endswith(".jpg")  # re-encoded: a PNG photo without transparency becomes JPEG


def test_exif_orientation_is_applied_and_metadata_stripped():
    source = Image.open(io.BytesIO(samples.rotated_jpeg_with_gps()))
    assert source.getexif().get(0x0112) == 6
    assert source.getexif().get(0x8825)

    image = product_image_create(
        product=ProductFactory(), file=upload("sideways.jpg", samples.rotated_jpeg_with_gps()), alt_text="Upright"
    )

    assert (image.width, image.height) == (200, 400)  # turned upright
    for name in [image.image.name, *image.rendition_names]:
        stored = open_stored(image, name)
        assert not stored.getexif(), name
        assert "icc_profile" not in stored.info
        assert "xmp" not in stored.info
        assert stored.height > stored.width


def test_transparency_is_kept_in_webp_and_flattened_on_white_in_jpeg():
    image = product_image_create(
        product=ProductFactory(), file=upload("cutout.png", samples.transparent_png(), "image/png"), alt_text="Cutout"
    )
    assert image.image.name.endswith(".webp")
    webp = next(r["name"] for r in image.renditions if r["format"] == "webp" and r["width"] == 640)
    jpeg = next(r["name"] for r in image.renditions if r["format"] == "jpeg" and r["width"] == 640)
    assert open_stored(image, webp).convert("RGBA").getpixel((0, 0))[3] == 0
    assert open_stored(image, jpeg).convert("RGB").getpixel((0, 0)) == (255, 255, 255)


@pytest.mark.parametrize(("name", "data", "message"), REFUSED)
def test_refused_files_leave_nothing_behind(settings, name, data, message):
    with pytest.raises(ImageRejectedError, match=message):
        product_image_create(product=ProductFactory(), file=upload(name, data), alt_text="Should not be kept")
    assert not ProductImage.objects.exists()
    assert stored_files(Path(settings.MEDIA_ROOT)) == []


def test_oversized_file_is_refused_before_it_is_read(settings):
    settings.IMAGE_UPLOAD_MAX_BYTES = 100 * 1024
    data = samples.noisy_png()
    assert len(data) > settings.IMAGE_UPLOAD_MAX_BYTES
    with pytest.raises(ImageRejectedError, match=r"the limit is 0\.1 MB"):
        product_image_create(product=ProductFactory(), file=upload("big.png", data, "image/png"), alt_text="Big")
    assert not ProductImage.objects.exists()


def test_alt_text_is_required_before_anything_is_stored(settings):
    with pytest.raises(ValidationError, match="screen readers"):
        product_image_create(product=ProductFactory(), file=upload("ring.jpg", samples.photo()), alt_text="   ")
    assert stored_files(Path(settings.MEDIA_ROOT)) == []


def test_delete_removes_the_files_once_committed(settings, django_capture_on_commit_callbacks):
    image = product_image_create(product=ProductFactory(), file=upload("ring.jpg", samples.photo()), alt_text="Ring")
    assert len(stored_files(Path(settings.MEDIA_ROOT))) == 9
    with django_capture_on_commit_callbacks(execute=True):
        product_image_delete(image=image)
    assert stored_files(Path(settings.MEDIA_ROOT)) == []
    assert not ProductImage.objects.exists()


# --- The partial every product photo is rendered through ---------------------------------------------


def test_partial_renders_webp_and_jpeg_srcsets_with_dimensions():
    image = product_image_create(
        product=ProductFactory(), file=upload("ring.jpg", samples.photo(1600, 1200)), alt_text="Ring on linen"
    )
    html = render_to_string(
        "includes/_product_image.html", {"image": image, "sizes": "(min-width: 900px) 50vw, 100vw", "loading": "lazy"}
    )
    assert html.startswith("<picture")
    assert '<source type="image/webp" srcset="' in html
    for width in (320, 640, 960, 1400):
        assert f".webp {width}w" in html
        assert f".jpg {width}w" in html
    assert 'sizes="(min-width: 900px) 50vw, 100vw"' in html
    assert 'width="1600" height="1200"' in html
    assert 'loading="lazy"' in html
    assert 'alt="Ring on linen"' in html
    assert "original.jpg" not in html  # shoppers get renditions, never the full-size master


def test_partial_falls_back_to_the_original_for_images_without_renditions():
    image = ProductImageFactory(alt_text="Legacy photo")
    html = render_to_string("includes/_product_image.html", {"image": image, "loading": "eager"})
    assert "srcset" not in html
    assert f'src="{image.image.url}"' in html
    assert 'loading="eager"' in html


def test_product_page_shows_renditions(client):
    variant = ProductVariantFactory()
    product = variant.product
    product_image_create(product=product, file=upload("a.jpg", samples.photo()), alt_text="Front view", position=0)
    product_image_create(product=product, file=upload("b.jpg", samples.photo()), alt_text="Side view", position=1)

    html = client.get(product.get_absolute_url()).content.decode()
    assert html.count('<source type="image/webp"') >= 2
    assert "Front view" in html
    assert "Side view" in html
    assert 'loading="eager"' in html
    assert 'loading="lazy"' in html


# --- Admin upload form, local storage (the presigned flow is in test_images_s3.py) ------------------


@pytest.fixture
def staff_client(client):
    client.force_login(StaffUserFactory())
    return client


def test_admin_upload_through_django_with_local_storage(staff_client, settings):
    product = ProductFactory()
    add_url = reverse("admin:catalog_productimage_add")
    page = staff_client.get(add_url, {"product": product.pk})
    assert page.status_code == 200
    assert b"data-presign-url" not in page.content  # no S3, so the browser posts the file to us

    response = staff_client.post(
        add_url,
        {"product": product.pk, "alt_text": "Ring in its box", "position": 0, "file": upload("r.jpg", samples.photo())},
    )
    assert response.status_code == 302
    image = ProductImage.objects.get()
    assert LogEntry.objects.get().object_id == str(image.pk)  # shows in the admin's history
    assert image.product == product
    assert image.alt_text == "Ring in its box"
    assert len(image.renditions) == 8


@pytest.mark.parametrize(("name", "data", "message"), REFUSED[:2])
def test_admin_refuses_non_images_with_a_message(staff_client, settings, name, data, message):
    product = ProductFactory()
    response = staff_client.post(
        reverse("admin:catalog_productimage_add"),
        {"product": product.pk, "alt_text": "Nope", "position": 0, "file": upload(name, data)},
    )
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not ProductImage.objects.exists()
    assert stored_files(Path(settings.MEDIA_ROOT)) == []


def test_admin_requires_alt_text_and_a_file(staff_client):
    product = ProductFactory()
    response = staff_client.post(reverse("admin:catalog_productimage_add"), {"product": product.pk, "position": 0})
    html = response.content.decode()
    assert response.status_code == 200
    assert "This field is required" in html
    assert "Choose a photo" in html
    assert not ProductImage.objects.exists()


def test_admin_refuses_a_variant_of_another_product(staff_client):
    product, other = ProductFactory(), ProductVariantFactory()
    response = staff_client.post(
        reverse("admin:catalog_productimage_add"),
        {"product": product.pk, "variant": other.pk, "alt_text": "x", "position": 0, "file": upload("a.jpg", b"x")},
    )
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()  # only this product's variants are offered


def test_product_page_in_admin_links_to_the_upload_form_and_has_no_raw_file_field(staff_client):
    image = ProductImageFactory()
    other_variant = ProductVariantFactory()
    html = staff_client.get(reverse("admin:catalog_product_change", args=[image.product_id])).content.decode()
    assert f"{reverse('admin:catalog_productimage_add')}?product={image.product_id}" in html
    assert 'type="file"' not in html  # photos cannot bypass the checks through the inline

    change = staff_client.get(reverse("admin:catalog_productimage_change", args=[image.pk])).content.decode()
    assert image.alt_text in change
    assert other_variant.sku not in change  # only this product's variants are offered


def test_presign_is_not_offered_with_local_storage(staff_client):
    response = staff_client.post(reverse("admin:catalog_productimage_presign"))
    assert response.status_code == 404


def test_upload_pages_are_for_staff_only(client):
    client.force_login(UserFactory())
    response = client.get(reverse("admin:catalog_productimage_add"))
    assert response.status_code == 302
    assert "/login/" in response["Location"]


# --- manage.py rebuild_renditions ---------------------------------------------------------------------


def test_rebuild_renditions_for_legacy_images_and_again_with_new_keys(settings, django_capture_on_commit_callbacks):
    legacy = ProductImageFactory(image=SimpleUploadedFile("old.jpg", samples.photo(1000, 800)), alt_text="Old photo")
    assert legacy.renditions == []

    out = io.StringIO()
    call_command("rebuild_renditions", "--missing", stdout=out)
    legacy.refresh_from_db()
    first = legacy.rendition_names
    assert sorted({r["width"] for r in legacy.renditions}) == [320, 640, 960, 1000]
    assert "Rebuilt renditions for 1 image(s); 0 failed." in out.getvalue()

    with django_capture_on_commit_callbacks(execute=True):
        call_command("rebuild_renditions", stdout=io.StringIO())
    legacy.refresh_from_db()
    assert set(legacy.rendition_names).isdisjoint(first)  # new keys, so CDN caches cannot serve stale ones
    media = Path(settings.MEDIA_ROOT)
    assert not any((media / name).exists() for name in first)  # the old renditions were deleted
    assert all((media / name).exists() for name in legacy.rendition_names)


def test_a_failing_database_write_removes_the_stored_files(settings):
    # position beyond a smallint: Postgres refuses the row after the files were written
    with pytest.raises(DataError), transaction.atomic():
        product_image_create(
            product=ProductFactory(), file=upload("r.jpg", samples.photo()), alt_text="x", position=40_000
        )
    assert stored_files(Path(settings.MEDIA_ROOT)) == []
