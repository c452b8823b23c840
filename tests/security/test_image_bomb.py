"""Issue 21: a 132 KB PNG of 6,324 x 6,324 cost ~720 MB and 12 s per upload; three at once exceeded 2 GB.

The pixel limit is now 24 MP (a 6000 x 4000 camera photo), checked from the header before any pixel is
decoded; a large JPEG decodes at a reduced scale (draft) and other formats are halved right after
decoding (the stored master is at most about twice the widest rendition); and one photo at a time is
decoded per machine (catalog.image_slot: a file lock all gunicorn workers share), a second upload waiting
a bounded time and then told "busy, try again".

Memory is measured in a fresh Python process (peak resident size, VmHWM, reset just before): Pillow decodes in C,
which tracemalloc does not see. The 40 MP control shows the measurement sees a decode when there is one.
"""

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from catalog.image_slot import BUSY_MESSAGE, image_processing_slot
from catalog.models import ProductImage
from catalog.services.image_records import product_image_create
from tests.factories import ProductFactory, StaffUserFactory
from tests.media import samples

ROOT = Path(__file__).resolve().parents[2]
SIDE = 6324  # the bomb: 39,992,976 pixels, under the old 40 MP limit
UPLOAD = reverse("admin:catalog_productimage_add")

MEASURE = """
import json, sys
import django
django.setup()
from django.conf import settings
from catalog.images import ImageRejectedError, image_process
from tests.media import samples

def status_kb(field):
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field + ":"))

if sys.argv[1] != "default":
    settings.IMAGE_MAX_PIXELS = int(sys.argv[1])
data = samples.decompression_bomb_png(side=int(sys.argv[2]))
with open("/proc/self/clear_refs", "w") as refs:
    refs.write("5")  # reset the peak (VmHWM) to the present size: only what follows counts
before = status_kb("VmRSS")
try:
    image_process(data)
    outcome = "processed"
except ImageRejectedError as error:
    outcome = error.messages[0]
print(json.dumps({"outcome": outcome, "peak_growth_mb": (status_kb("VmHWM") - before) / 1024}))
"""


def measured(*, limit: int | None = None) -> dict:
    """Process the bomb in a fresh interpreter under ``limit`` pixels (None: the shop's setting): what happened
    and the peak RSS growth."""
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, "default" if limit is None else str(limit), str(SIDE)],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "jewelry_site.settings.test"},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_bomb_is_refused_from_its_header_without_decoding_it():
    refused = measured()  # the shop's own limit
    control = measured(limit=40_000_000)  # the old limit: the bomb is decoded

    assert refused["outcome"] == "The image has more than 24 million pixels; resize it before uploading."
    assert refused["peak_growth_mb"] < 20, refused
    assert control["outcome"] == "processed"
    assert control["peak_growth_mb"] > 35, control  # a decode of 40 M pixels shows in the measurement


@pytest.fixture
def staff_client(client, settings, tmp_path):
    settings.IMAGE_PROCESSING_LOCK_FILE = str(tmp_path / "images.lock")
    client.force_login(StaffUserFactory())
    return client


def upload_form(product, name="photo.jpg", data=None, content_type="image/jpeg") -> dict:
    data = samples.photo(800, 600) if data is None else data
    return {
        "product": str(product.pk),
        "alt_text": "A ring on white",
        "position": "0",
        "file": SimpleUploadedFile(name, data, content_type=content_type),
    }


@pytest.mark.django_db
def test_the_admin_refuses_the_bomb_with_a_message(staff_client):
    product = ProductFactory()
    bomb = samples.decompression_bomb_png(side=SIDE)
    assert len(bomb) < 200_000  # the file: well under any byte limit

    response = staff_client.post(UPLOAD, upload_form(product, "bomb.png", bomb, "image/png"))

    assert response.status_code == 200
    assert "more than 24 million pixels" in response.content.decode()
    assert not ProductImage.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("product", ["\u00b2", "\u2460", "1\u00b9"])
def test_the_upload_page_takes_a_product_that_is_no_number_of_ours_without_a_500(staff_client, product):
    """str.isdigit() is true for "²" and "①", which the product id lookup refuses: the form was a 500."""
    staff_client.raise_request_exception = False
    assert staff_client.get(UPLOAD, {"product": product}).status_code == 200
    response = staff_client.post(UPLOAD, {"product": product, "alt_text": "A ring"})
    assert response.status_code == 200
    assert not ProductImage.objects.exists()


@pytest.mark.django_db
def test_a_large_jpeg_is_decoded_reduced_and_its_master_kept_at_twice_the_widest_rendition():
    image = product_image_create(
        product=ProductFactory(), file=SimpleUploadedFile("big.jpg", samples.photo(6000, 4000)), alt_text="Big"
    )
    assert (image.width, image.height) == (3000, 2000)  # decoded at half scale (draft), not 24 M pixels
    assert max(r["width"] for r in image.renditions) == 1400


@pytest.mark.django_db
def test_a_second_upload_while_one_is_processed_gets_busy_try_again(staff_client, settings):
    settings.IMAGE_PROCESSING_WAIT_SECONDS = 0.2
    product = ProductFactory()
    with image_processing_slot():  # another worker of this machine is decoding a photo
        busy = staff_client.post(UPLOAD, upload_form(product))
    assert busy.status_code == 503
    assert BUSY_MESSAGE in busy.content.decode()
    assert not ProductImage.objects.exists()

    after = staff_client.post(UPLOAD, upload_form(product))  # the control: free again, it goes through
    assert after.status_code == 302
    assert ProductImage.objects.count() == 1


def _records(caplog, event: str) -> int:
    return sum(1 for r in list(caplog.records) if r.getMessage() == event)


@pytest.mark.django_db(transaction=True)
def test_concurrent_uploads_are_processed_one_at_a_time(settings, tmp_path, caplog):
    settings.IMAGE_PROCESSING_LOCK_FILE = str(tmp_path / "images.lock")
    settings.IMAGE_PROCESSING_WAIT_SECONDS = 60
    caplog.set_level("INFO", logger="shop.catalog")
    product = ProductFactory()
    results: list = []

    def upload(index: int) -> None:
        from django.db import connection

        try:
            file = SimpleUploadedFile(f"p{index}.jpg", samples.photo(900, 600))
            results.append(product_image_create(product=product, file=file, alt_text=f"Photo {index}"))
        except BaseException as error:
            results.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=upload, args=(i,), name=f"upload-{i}") for i in range(3)]
    with image_processing_slot():
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 60  # bounded wait on a condition: all three are queued at the lock
        while _records(caplog, "image_slot_waiting") < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _records(caplog, "image_slot_waiting") == 3
        assert not ProductImage.objects.exists()  # none was decoded while the slot was taken
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)

    assert all(isinstance(result, ProductImage) for result in results), results
    events = [r.getMessage() for r in caplog.records if r.getMessage() in ("image_slot_taken", "image_slot_released")]
    assert events == ["image_slot_taken", "image_slot_released"] * 4  # ours, then the three one after another
