"""`make run`'s own setup, end to end through the test client: SQLite, local media, the demo catalogue.

The shopper browses, filters, searches (SQLite's icontains fallback), adds to the bag, checks out and
reads the order history; staff edit a product in the admin and upload a photo to local storage, and
deleting photos goes through the SQLite fallback of the "file still used by another row" check.
"""

import io
import os
import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import connection
from django.test import Client, override_settings
from django.urls import reverse
from PIL import Image

from catalog.models import Category, Product, ProductImage, ProductVariant
from catalog.search import uses_full_text_search
from orders.models import Order
from tests.orders.conftest import checkout_data

pytestmark = pytest.mark.django_db

PRODUCT_LINK = re.compile(r'href="/product/([\w-]+)/"')


@pytest.fixture(scope="session")
def demo(django_db_setup, django_db_blocker, tmp_path_factory):
    """The demo catalogue, loaded once into the lane's SQLite file the way `make run` loads it."""
    out = io.StringIO()
    with django_db_blocker.unblock(), override_settings(MEDIA_ROOT=tmp_path_factory.mktemp("demo-media")):
        call_command("load_demo_catalog", "--image-size", "64", "--workers", "1", stdout=out)
    return out.getvalue()


def test_the_lane_really_is_on_the_dev_defaults(demo, settings):
    assert connection.vendor == "sqlite"
    assert os.environ["DJANGO_SETTINGS_MODULE"] == "tests_sqlite.settings"
    assert connection.settings_dict["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert settings.STORAGES["default"]["BACKEND"] == "django.core.files.storage.FileSystemStorage"
    assert not uses_full_text_search()  # search takes the icontains fallback here
    assert Product.objects.filter(is_active=True).count() > 24  # more than one page of demo products


def _slugs(response) -> set[str]:
    return set(PRODUCT_LINK.findall(response.content.decode()))


def test_shopper_browses_filters_searches_buys_and_reads_the_order(demo):
    shopper = get_user_model().objects.create_user("ada", "ada@example.com", "a-long-test-password-1")
    client = Client()
    client.force_login(shopper)

    home = client.get(reverse("catalog:home"))
    assert home.status_code == 200
    listing = client.get(reverse("catalog:product-list"))
    assert listing.status_code == 200
    assert len(_slugs(listing)) == 24  # a full first page

    # Filters: one metal, a price ceiling, cheapest first. The shop's rules: the card's "from" price, and
    # any metal an active variant is sold in (what can be bought, issue #16).
    product = Product.objects.filter(is_active=True, price_from__isnull=False).order_by("price_from", "pk")[10]
    ceiling = product.price_from
    filtered = client.get(
        reverse("catalog:product-list"), {"metal": product.metal, "max_price": f"{ceiling}", "sort": "price-asc"}
    )
    expected = set(
        Product.objects.filter(
            is_active=True,
            variants__is_active=True,
            variants__metal=product.metal,
            price_from__isnull=False,
            price_from__lte=ceiling,
        ).values_list("slug", flat=True)
    )
    assert filtered.status_code == 200
    assert product.slug in _slugs(filtered)
    assert _slugs(filtered) <= expected
    assert filtered.context["result_count"] == len(expected)

    # Search: every word must appear (icontains on SQLite) or be a shop word of the piece (its category,
    # a metal it is sold in, its stone); case does not matter; nonsense finds nothing.
    word = product.name.split()[0]
    found = client.get(reverse("catalog:product-list"), {"q": word.upper()})
    assert found.status_code == 200
    assert product.slug in _slugs(found)
    for slug in _slugs(found):
        shown = Product.objects.get(slug=slug)
        metals = " ".join(v.get_metal_display() for v in shown.variants.filter(is_active=True))
        words = f"{shown.name} {shown.description} {shown.category.name} {shown.gemstone} {metals}"
        assert word.lower() in words.lower()
    nothing = client.get(reverse("catalog:product-list"), {"q": "zzqx unobtainium"})
    assert nothing.status_code == 200
    assert nothing.context["result_count"] == 0

    category = client.get(product.category.get_absolute_url())
    assert category.status_code == 200

    page = client.get(product.get_absolute_url())
    assert page.status_code == 200
    assert product.name in page.content.decode()

    # Add to bag, check out, and find the order in the history.
    variant = ProductVariant.objects.filter(product=product, is_active=True, stock__gte=2).first()
    stock = variant.stock
    added = client.post(reverse("cart:add"), {"variant": variant.pk, "quantity": 2, "next": reverse("cart:detail")})
    assert added.status_code == 302
    bag = client.get(reverse("cart:detail"))
    assert product.name in bag.content.decode()

    placed = client.post(reverse("orders:checkout"), checkout_data(client))
    order = Order.objects.get(user=shopper)
    assert placed.status_code == 302
    assert placed["Location"] == reverse("orders:confirmation", kwargs={"number": order.number})
    assert order.lines.get().quantity == 2
    assert order.subtotal == variant.price * 2
    assert isinstance(order.total, Decimal)
    variant.refresh_from_db()
    assert variant.stock == stock - 2
    assert client.get(reverse("cart:detail")).context["summary"].count == 0

    history = client.get(reverse("orders:order-list"))
    assert order.number in history.content.decode()
    detail = client.get(reverse("orders:order-detail", kwargs={"number": order.number}))
    assert detail.status_code == 200
    assert product.name in detail.content.decode()

    stranger = Client()
    stranger.force_login(get_user_model().objects.create_user("eve", "eve@example.com", "another-long-password-2"))
    assert stranger.get(reverse("orders:order-detail", kwargs={"number": order.number})).status_code == 404


def _admin_post_data(response) -> dict[str, str]:
    """What the admin change form would send back unchanged: the main form and every inline's forms."""
    data: dict[str, str] = {}

    def add(form) -> None:
        for name in form.fields:
            value = form[name].value()
            if value is None or value is False:
                continue
            key = form.add_prefix(name)
            if isinstance(value, list | tuple):
                data[key] = [str(v) for v in value]
            else:
                data[key] = "on" if value is True else str(value)

    add(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        management = formset.management_form
        for name in management.fields:
            data[management.add_prefix(name)] = str(management[name].value())
        # The blank extra forms are left out, as a browser leaves them untouched.
        data[management.add_prefix("TOTAL_FORMS")] = str(len(formset.initial_forms))
        for form in formset.initial_forms:
            add(form)
    return data


def _admin_errors(response) -> list:
    """The error messages of a re-rendered admin form, for the assertion message."""
    if not response.context:
        return [response]
    return re.findall(r'class="errorlist"[^>]*><li>([^<]*)</li>', response.content.decode())


def _jpeg(width: int = 800, height: int = 600) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (190, 160, 90)).save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def test_staff_edit_a_product_and_upload_a_photo_to_local_storage(demo, settings, django_capture_on_commit_callbacks):
    staff = get_user_model().objects.create_superuser("grace", "grace@example.com", "a-long-staff-password-3")
    client = Client()
    client.force_login(staff)
    product = Product.objects.filter(is_active=True, variants__isnull=False).order_by("pk").first()
    variant = product.variants.order_by("pk").first()
    change_url = reverse("admin:catalog_product_change", args=[product.pk])

    page = client.get(change_url)
    assert page.status_code == 200
    data = _admin_post_data(page)
    data["name"] = "Renamed on SQLite"
    variant_forms = page.context["inline_admin_formsets"][0].formset.forms
    index = next(i for i, form in enumerate(variant_forms) if form.instance == variant)
    data[f"variants-{index}-price"] = "1234.50"
    with django_capture_on_commit_callbacks(execute=True):
        saved = client.post(change_url, data)
    assert saved.status_code == 302, _admin_errors(saved)
    product.refresh_from_db()
    variant.refresh_from_db()
    assert product.name == "Renamed on SQLite"
    assert variant.price == Decimal("1234.50")
    shown = client.get(product.get_absolute_url()).content.decode()
    assert "Renamed on SQLite" in shown  # the cached catalogue fragments were made obsolete

    # A photo through Django to local storage: re-encoded, WebP + JPEG per width (never upscaled), on disk.
    media = Path(settings.MEDIA_ROOT)
    add_url = reverse("admin:catalog_productimage_add")
    with django_capture_on_commit_callbacks(execute=True):
        uploaded = client.post(
            add_url,
            {
                "product": product.pk,
                "alt_text": "Ring on linen",
                "position": 0,
                "file": SimpleUploadedFile("ring.jpg", _jpeg(), content_type="image/jpeg"),
            },
        )
    assert uploaded.status_code == 302
    image = ProductImage.objects.get(product=product, alt_text="Ring on linen")
    assert sorted((r["width"], r["format"]) for r in image.renditions) == [
        (w, f) for w in (320, 640, 800) for f in ("jpeg", "webp")
    ]
    names = {image.image.name, *image.rendition_names}
    assert names <= _files(media)
    assert f"/media/{image.renditions[0]['name']}" in client.get(product.get_absolute_url()).content.decode()

    # Deleting: a file another row still names stays (the SQLite text-match fallback, then the exact
    # check); when the last row naming it goes, so does the file.
    twin = ProductImage.objects.create(
        product=Product.objects.exclude(pk=product.pk).first(),
        image=image.image.name,
        width=image.width,
        height=image.height,
        alt_text="Same photo, another piece",
        renditions=image.renditions,
    )
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("admin:catalog_productimage_delete", args=[image.pk]), {"post": "yes"})
    assert not ProductImage.objects.filter(pk=image.pk).exists()
    assert names <= _files(media)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("admin:catalog_productimage_delete", args=[twin.pk]), {"post": "yes"})
    assert not (names & _files(media))


def test_category_pages_of_the_demo_all_answer(demo):
    client = Client()
    for category in Category.objects.filter(is_active=True):
        assert client.get(category.get_absolute_url()).status_code == 200
