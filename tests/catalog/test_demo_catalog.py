"""The demo catalogue loader, through the real management command (small pictures keep it quick)."""

from decimal import Decimal
from io import BytesIO, StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db.models import Count, Max, Min
from PIL import Image

from catalog import demo_images
from catalog.demo import PRODUCTS
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
