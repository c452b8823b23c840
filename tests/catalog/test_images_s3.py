"""Product images on S3 behind CloudFront, against moto's S3 server over real HTTP on loopback.

Covers the presigned POST round trip (browser -> bucket, then the server's check), refusals,
CloudFront URLs, "no S3 request while rendering" (counted by a loopback proxy), and S3 being
down or failing half-way through an upload.
"""

import base64
import json
import time
import uuid
from types import SimpleNamespace

import boto3
import pytest
import requests
from django.urls import reverse

from catalog.models import ProductImage
from catalog.services.image_records import product_image_create, product_image_rebuild_renditions
from jewelry_site.settings.base import s3_media_storage
from loopback import DroppingServer, free_port
from tests.factories import ProductVariantFactory, StaffUserFactory, UserFactory
from tests.media import samples
from tests.media.s3proxy import S3Proxy

pytestmark = pytest.mark.django_db

REGION = "eu-west-2"
CLOUDFRONT = "d1abcdefexample.cloudfront.net"
# An upload while S3 is down: its first storage call tries 3 times (DJANGO_AWS_S3_MAX_ATTEMPTS) and gives up.
UPLOAD_ATTEMPTS_WHEN_DOWN = 3


def use_bucket(settings, monkeypatch, *, endpoint: str, bucket: str, attempts: int = 3) -> None:
    """Point the media storage at ``endpoint`` exactly as production settings would at S3."""
    monkeypatch.setenv("DJANGO_AWS_S3_MAX_ATTEMPTS", str(attempts))
    monkeypatch.setenv("DJANGO_AWS_S3_CONNECT_TIMEOUT", "1")
    storage = s3_media_storage(bucket=bucket, region=REGION, endpoint_url=endpoint, cloudfront_domain=CLOUDFRONT)
    settings.STORAGES = {**settings.STORAGES, "default": storage}
    settings.CLOUDFRONT_DOMAIN = CLOUDFRONT


@pytest.fixture
def s3(aws_env, settings, monkeypatch):
    """A fresh private bucket on the moto server, used as the media storage."""
    bucket = f"aurelia-images-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=aws_env, region_name=REGION)
    client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    use_bucket(settings, monkeypatch, endpoint=aws_env, bucket=bucket)

    def keys(prefix: str = "") -> list[str]:
        listing = client.list_objects_v2(Bucket=bucket, Prefix=prefix)
        return sorted(item["Key"] for item in listing.get("Contents", []))

    return SimpleNamespace(client=client, bucket=bucket, endpoint=aws_env, keys=keys)


@pytest.fixture
def staff_client(client):
    client.force_login(StaffUserFactory())
    return client


def presign(staff_client) -> dict:
    response = staff_client.post(reverse("admin:catalog_productimage_presign"))
    assert response.status_code == 200
    return response.json()


def send_to_bucket(policy: dict, data: bytes, content_type: str = "image/jpeg", name: str = "photo.jpg") -> None:
    """What admin-upload.js does: a multipart POST straight to the bucket, file last."""
    response = requests.post(
        policy["url"],
        data={**policy["fields"], "Content-Type": content_type},
        files={"file": (name, data, content_type)},
        timeout=10,
    )
    assert response.status_code in (200, 201, 204), response.text


def add_form(product, **extra) -> dict:
    return {"product": product.pk, "alt_text": "Aurora ring on linen", "position": 0, **extra}


def test_presigned_post_limits_key_size_type_and_time(s3, staff_client, settings):
    policy = presign(staff_client)
    document = json.loads(base64.b64decode(policy["fields"]["policy"]))
    conditions = document["conditions"]

    key = policy["fields"]["key"]
    assert key.startswith("uploads/")
    assert len(key) == len("uploads/") + 32  # chosen by the server: a random hex name, nothing from the client
    assert {"key": key} in conditions
    assert ["content-length-range", 1, settings.IMAGE_UPLOAD_MAX_BYTES] in conditions
    assert ["starts-with", "$Content-Type", "image/"] in conditions
    assert policy["fields"]["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
    expires_in = time.mktime(time.strptime(document["expiration"], "%Y-%m-%dT%H:%M:%SZ")) - time.mktime(time.gmtime())
    assert 0 < expires_in <= settings.IMAGE_UPLOAD_EXPIRY_MINUTES * 60
    assert policy["max_bytes"] == settings.IMAGE_UPLOAD_MAX_BYTES
    assert policy["url"].startswith(s3.endpoint)


def test_presign_is_for_staff_and_post_only(s3, client):
    url = reverse("admin:catalog_productimage_presign")
    client.force_login(UserFactory())
    assert client.post(url).status_code == 302  # to the admin login
    client.force_login(StaffUserFactory())
    assert client.get(url).status_code == 405


def test_direct_upload_round_trip_makes_renditions_behind_cloudfront(s3, staff_client):
    product = ProductVariantFactory().product
    page = staff_client.get(reverse("admin:catalog_productimage_add"), {"product": product.pk})
    assert b"data-presign-url" in page.content  # the browser is offered the direct route

    policy = presign(staff_client)
    send_to_bucket(policy, samples.rotated_jpeg_with_gps())
    assert s3.keys("uploads/") == [policy["fields"]["key"]]

    response = staff_client.post(
        reverse("admin:catalog_productimage_add"), add_form(product, upload_token=policy["token"])
    )

    assert response.status_code == 302
    image = ProductImage.objects.get()
    assert image.alt_text == "Aurora ring on linen"
    assert (image.width, image.height) == (200, 400)  # EXIF orientation applied
    assert s3.keys("uploads/") == []  # the raw upload is gone
    assert s3.keys("products/") == sorted([image.image.name, *image.rendition_names])
    head = s3.client.head_object(Bucket=s3.bucket, Key=image.renditions[0]["name"])
    assert head["ContentType"] == f"image/{image.renditions[0]['format']}"
    assert "immutable" in head["CacheControl"]
    assert image.src_url.startswith(f"https://{CLOUDFRONT}/products/{product.slug}/")
    assert "X-Amz" not in image.src_url  # through CloudFront, no S3 signature in the URL


REFUSED_DIRECT = [
    pytest.param(samples.text_named_jpg(), "image/jpeg", "not a JPEG, PNG or WebP", id="text-renamed-jpg"),
    pytest.param(samples.svg_with_script(), "image/svg+xml", "SVG", id="svg-with-script"),
    pytest.param(samples.decompression_bomb_png(), "image/png", "million pixels", id="decompression-bomb"),
]


@pytest.mark.parametrize(("data", "content_type", "message"), REFUSED_DIRECT)
def test_direct_uploads_that_are_not_photos_are_refused_and_removed(s3, staff_client, data, content_type, message):
    product = ProductVariantFactory().product
    policy = presign(staff_client)
    send_to_bucket(policy, data, content_type)

    response = staff_client.post(
        reverse("admin:catalog_productimage_add"), add_form(product, upload_token=policy["token"])
    )

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not ProductImage.objects.exists()
    assert s3.keys() == []  # neither the upload nor any final object is left


def test_oversized_direct_upload_is_refused_by_its_size_alone(s3, staff_client, settings):
    # S3 enforces content-length-range itself (moto does not), so the server checks the size again.
    settings.IMAGE_UPLOAD_MAX_BYTES = 100 * 1024
    product = ProductVariantFactory().product
    policy = presign(staff_client)
    send_to_bucket(policy, samples.noisy_png(), "image/png")

    response = staff_client.post(
        reverse("admin:catalog_productimage_add"), add_form(product, upload_token=policy["token"])
    )

    assert response.status_code == 200
    assert "the limit is 0.1 MB" in response.content.decode()
    assert not ProductImage.objects.exists()
    assert s3.keys() == []


def test_token_of_another_staff_member_or_a_forged_one_is_refused(s3, staff_client, client):
    product = ProductVariantFactory().product
    other = client.__class__()
    other.force_login(StaffUserFactory())
    policy = presign(other)
    send_to_bucket(policy, samples.photo())

    for token in (policy["token"], "uploads/" + "0" * 32, policy["token"] + "x"):
        response = staff_client.post(reverse("admin:catalog_productimage_add"), add_form(product, upload_token=token))
        assert response.status_code == 200
        assert "expired or is not valid" in response.content.decode()
    assert not ProductImage.objects.exists()
    assert s3.keys("products/") == []


def test_a_token_for_an_upload_that_never_arrived_asks_for_the_file_again(s3, staff_client):
    product = ProductVariantFactory().product
    policy = presign(staff_client)  # ... and the browser never sends the file
    response = staff_client.post(
        reverse("admin:catalog_productimage_add"), add_form(product, upload_token=policy["token"])
    )
    assert response.status_code == 200
    assert "was not found (it may have expired)" in response.content.decode()
    assert not ProductImage.objects.exists()


def test_ordinary_upload_through_django_goes_to_the_bucket_too(s3, staff_client):
    from django.core.files.uploadedfile import SimpleUploadedFile

    product = ProductVariantFactory().product
    photo = SimpleUploadedFile("ring.jpg", samples.photo(), content_type="image/jpeg")
    response = staff_client.post(reverse("admin:catalog_productimage_add"), add_form(product, file=photo))
    assert response.status_code == 302
    image = ProductImage.objects.get()
    assert len(s3.keys("products/")) == 1 + len(image.renditions) == 9


# --- Shoppers' pages: URLs only, never a call to S3 -------------------------------------------------


def make_product_with_photos(count: int = 2):
    from django.core.files.uploadedfile import SimpleUploadedFile

    product = ProductVariantFactory().product
    for position in range(count):
        product_image_create(
            product=product,
            file=SimpleUploadedFile(f"p{position}.jpg", samples.photo(1200, 1200)),
            alt_text=f"Photo {position}",
            position=position,
        )
    return product


def test_catalogue_pages_make_no_s3_request(s3, client, settings, monkeypatch):
    with S3Proxy(s3.endpoint) as proxy:
        use_bucket(settings, monkeypatch, endpoint=proxy.url, bucket=s3.bucket)
        product = make_product_with_photos()
        assert proxy.count("PUT") == 18  # the uploads did go through the proxy: it sees S3 traffic

        before = proxy.count()
        list_page = client.get(reverse("catalog:product-list"))
        detail_page = client.get(product.get_absolute_url())
        home_page = client.get(reverse("catalog:home"))

        assert proxy.count() == before  # not one request while rendering
    for page in (list_page, detail_page):
        html = page.content.decode()
        assert page.status_code == 200
        assert f'srcset="https://{CLOUDFRONT}/products/{product.slug}/' in html
        assert s3.endpoint not in html
        assert proxy.url not in html
    assert home_page.status_code == 200


def test_catalogue_pages_render_without_calling_s3_while_s3_is_down(s3, client, settings, monkeypatch):
    product = make_product_with_photos()
    image = product.images.first()
    with DroppingServer() as down:  # S3 gone: every connection dropped, and counted
        use_bucket(settings, monkeypatch, endpoint=down.url, bucket=s3.bucket)
        detail = client.get(product.get_absolute_url())
        listing = client.get(reverse("catalog:product-list"))

    assert detail.status_code == 200
    assert listing.status_code == 200
    # Pages never wait on S3: not one connection attempt while rendering (so no retries, no time).
    assert down.connections == 0
    assert image.webp_srcset.split(" ")[0] in detail.content.decode()
    assert f"https://{CLOUDFRONT}/{image.renditions[0]['name']}" in detail.content.decode()


def test_upload_while_s3_is_down_gives_a_clear_error_and_saves_nothing(s3, staff_client, settings, monkeypatch):
    from django.core.files.uploadedfile import SimpleUploadedFile

    product = ProductVariantFactory().product
    with DroppingServer() as down:
        use_bucket(settings, monkeypatch, endpoint=down.url, bucket=s3.bucket, attempts=3)
        response = staff_client.post(
            reverse("admin:catalog_productimage_add"),
            add_form(product, file=SimpleUploadedFile("ring.jpg", samples.photo(), content_type="image/jpeg")),
        )

    assert response.status_code == 503
    assert "Image storage could not be reached, so nothing was saved" in response.content.decode()
    # Bounded: the first failing call gives up after its 3 attempts, not a hung or endlessly retried page.
    assert down.connections == UPLOAD_ATTEMPTS_WHEN_DOWN
    assert not ProductImage.objects.exists()
    assert s3.keys() == []


def test_upload_failing_half_way_removes_what_it_wrote(s3, staff_client, settings, monkeypatch):
    from django.core.files.uploadedfile import SimpleUploadedFile

    product = ProductVariantFactory().product
    with S3Proxy(s3.endpoint) as proxy:
        use_bucket(settings, monkeypatch, endpoint=proxy.url, bucket=s3.bucket, attempts=1)
        proxy.fail_puts_after = 4  # the master and three renditions land, then S3 starts failing
        response = staff_client.post(
            reverse("admin:catalog_productimage_add"),
            add_form(product, file=SimpleUploadedFile("ring.jpg", samples.photo(), content_type="image/jpeg")),
        )
        assert proxy.count("PUT") == 5
        assert proxy.count("DELETE") == 4  # the four written objects were removed again

    assert response.status_code == 503
    assert "nothing was saved" in response.content.decode()
    assert not ProductImage.objects.exists()
    assert s3.keys() == []  # no orphaned final objects


def test_rebuild_renditions_on_s3_replaces_keys_and_deletes_the_old_ones(s3, django_capture_on_commit_callbacks):
    product = make_product_with_photos(count=1)
    image = product.images.get()
    old = set(image.rendition_names)

    with django_capture_on_commit_callbacks(execute=True):
        product_image_rebuild_renditions(image=image)

    image.refresh_from_db()
    assert old.isdisjoint(image.rendition_names)
    assert s3.keys("products/") == sorted([image.image.name, *image.rendition_names])


def test_cloudfront_signed_urls_when_a_key_pair_is_configured(s3, settings):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from django.core.files.storage import default_storage

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode()
    settings.STORAGES = {
        **settings.STORAGES,
        "default": s3_media_storage(
            bucket=s3.bucket,
            region=REGION,
            endpoint_url=s3.endpoint,
            cloudfront_domain=CLOUDFRONT,
            key_id="K2JCJMDEHXQW5F",
            private_key=pem,
        ),
    }
    url = default_storage.url("products/ring/abc/w640.webp")
    assert url.startswith(f"https://{CLOUDFRONT}/products/ring/abc/w640.webp?")
    assert "Key-Pair-Id=K2JCJMDEHXQW5F" in url
    assert "Signature=" in url
    assert "Expires=" in url


def test_environment_switches_media_to_s3_with_cloudfront_urls():
    """The real settings path: DJANGO_ env vars in, S3Storage with CloudFront URLs out (no S3 call)."""
    import os
    import subprocess
    import sys

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "jewelry_site.settings.dev",
        "DJANGO_AWS_STORAGE_BUCKET_NAME": "maison-aurelia-images",
        "DJANGO_CLOUDFRONT_DOMAIN": CLOUDFRONT,
        "DJANGO_AWS_S3_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",  # closed: any call would fail
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    script = (
        "import django; django.setup()\n"
        "from django.core.files.storage import default_storage as s\n"
        "print(s.__class__.__name__, s.file_overwrite, s.default_acl, s.querystring_auth)\n"
        "print(s.client_config.connect_timeout, s.client_config.retries)\n"
        "print(s.url('products/ring/a b.webp'))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "S3Storage False None False"
    assert "'total_max_attempts': 3" in lines[1]
    assert lines[2] == f"https://{CLOUDFRONT}/products/ring/a%20b.webp"
