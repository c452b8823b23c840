"""The demo catalogue loader, through the real management command (small pictures keep it quick)."""

import functools
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from decimal import Decimal
from io import BytesIO, StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db.models import Count, Max, Min
from PIL import Image

from catalog import demo, demo_images
from catalog.demo import PRODUCTS, demo_catalog_load
from catalog.models import Category, Collection, Product, ProductImage, ProductVariant

pytestmark = pytest.mark.django_db


def load(*args: str) -> str:
    out = StringIO()
    call_command("load_demo_catalog", "--image-size", "64", *args, stdout=out)
    return out.getvalue().strip()


def media_files(settings) -> dict[Path, int]:
    root = Path(settings.MEDIA_ROOT)
    return {path: path.stat().st_mtime_ns for path in root.rglob("*") if path.is_file()}


def test_loading_twice_adds_nothing_the_second_time(settings):
    first = load()
    files = media_files(settings)
    counts = (Product.objects.count(), ProductVariant.objects.count(), ProductImage.objects.count())
    variant = ProductVariant.objects.order_by("pk").first()
    variant.stock = 42  # a staff edit the next load must not undo
    variant.save()

    second = load()

    n_products = len(PRODUCTS)
    assert first.startswith(f"Demo catalogue: categories 7 (7 new), collections 3 (3 new), products {n_products} ")
    assert second == (
        f"Demo catalogue: categories 7 (0 new), collections 3 (0 new), products {n_products} (0 new), "
        f"variants {counts[1]} (0 new), images {counts[2]} (0 new)."
    )
    assert (Product.objects.count(), ProductVariant.objects.count(), ProductImage.objects.count()) == counts
    assert media_files(settings) == files  # same files, none rewritten
    variant.refresh_from_db()
    assert variant.stock == 42


def test_demo_catalogue_is_believable():
    load()

    assert 55 <= Product.objects.count() <= 65
    assert Category.objects.filter(parent__slug="rings").count() == 3
    assert Collection.objects.count() == 3
    assert Product.objects.filter(is_featured=True).count() == 8
    assert not Product.objects.filter(category__slug__in=["engagement-rings", "wedding-bands", "dress-rings"]).filter(
        is_engravable=False
    )
    assert Product.objects.filter(category__slug="bracelets", is_engravable=True).exists()
    prices = ProductVariant.objects.aggregate(low=Min("price"), high=Max("price"))
    assert prices["low"] >= Decimal("85.00")
    assert prices["high"] <= Decimal("4800.00")
    assert ProductVariant.objects.filter(stock=0).count() >= 3
    assert ProductVariant.objects.filter(stock=1).count() >= 3
    assert set(
        ProductVariant.objects.filter(product__category__slug="wedding-bands").values_list("ring_size", flat=True)
    ) == {
        "J",
        "L",
        "N",
        "P",
    }
    assert all(0 < len(p.seo_description) <= 160 for p in Product.objects.all())
    image_counts = Product.objects.annotate(n=Count("images")).values_list("n", flat=True)
    assert set(image_counts) <= {1, 2, 3}


def test_each_image_belongs_to_a_variant_of_its_metal_and_describes_it():
    load("--limit", "5")

    assert Product.objects.count() == 5
    for image in ProductImage.objects.select_related("variant__product", "product"):
        assert image.variant.product == image.product
        assert image.variant.get_metal_display().split()[-1].lower() in image.alt_text.lower()
        assert image.product.name in image.alt_text
        assert (image.width, image.height) == (64, 64)


@pytest.mark.parametrize(("kind", "style"), [("ring", "halo"), ("necklace", "pearl")])
def test_full_size_drawings_are_1200_pixel_jpegs(kind, style):
    picture = Image.open(BytesIO(demo_images.render(kind=kind, variant=style, metal="rose-gold", stone="pearl")))
    assert (picture.format, picture.size) == ("JPEG", (1200, 1200))
    # Not a blank canvas: the piece adds clearly different colours to the cream backdrop.
    low, high = picture.convert("L").getextrema()
    assert high - low > 80


def image_summary() -> list[tuple]:
    return sorted(
        (image.product.slug, image.position, image.variant.sku, image.width, image.alt_text, len(image.renditions))
        for image in ProductImage.objects.select_related("product", "variant")
    )


def all_files_are_images(settings) -> bool:
    for path in media_files(settings):
        Image.open(path).verify()
    return True


def test_photos_drawn_in_worker_processes_match_those_drawn_in_one(settings):
    demo_catalog_load(image_size=64, limit=4, workers=2)
    in_workers = image_summary()
    ProductImage.objects.all().delete()

    demo_catalog_load(image_size=64, limit=4, workers=1)

    assert in_workers == image_summary()
    assert len(in_workers) == sum(min(len(item.metals), demo.MAX_IMAGES_PER_PRODUCT) for item in PRODUCTS[:4])
    assert all_files_are_images(settings)


def test_workers_started_fresh_need_no_models(settings, monkeypatch, caplog):
    # spawn (macOS, Windows) and forkserver (Linux from Python 3.14) workers import only what they unpickle.
    spawn = multiprocessing.get_context("spawn")
    monkeypatch.setattr(demo, "ProcessPoolExecutor", functools.partial(ProcessPoolExecutor, mp_context=spawn))
    result = demo_catalog_load(image_size=64, limit=2, workers=2)

    assert "demo photos" not in caplog.text  # no fallback: the spawned workers did the drawing
    assert result.images.created == ProductImage.objects.count() > 0
    assert all_files_are_images(settings)


def test_photos_are_still_made_when_worker_processes_cannot_start(settings, monkeypatch, caplog):
    def no_processes(*args, **kwargs):
        raise OSError(38, "Function not implemented")  # what a sandbox without POSIX semaphores says

    monkeypatch.setattr(demo, "ProcessPoolExecutor", no_processes)
    result = demo_catalog_load(image_size=64, limit=3, workers=2)

    assert "drawing demo photos in this process" in caplog.text
    assert result.images.created == ProductImage.objects.count() > 0
    assert all_files_are_images(settings)


def test_photos_are_still_made_when_the_worker_processes_die(settings, monkeypatch, caplog):
    # Every worker exits as it starts (as if killed): the pool breaks and this process carries on alone.
    monkeypatch.setattr(demo_images, "worker_init", functools.partial(os._exit, 1))
    result = demo_catalog_load(image_size=64, limit=3, workers=2)

    assert "process" in caplog.text
    assert "demo photos" in caplog.text
    assert result.images.created == ProductImage.objects.count() > 0
    assert all_files_are_images(settings)
