"""The admin's direct upload in real Chromium: admin-upload.js asks the shop for a presigned POST,
sends the file to the bucket (moto over HTTP, cross-origin, so CORS and the CSP's connect-src are
exercised too) and the shop then checks the object and records the photo."""

import uuid

import boto3
import pytest
from django.test import Client
from django.urls import reverse
from playwright.sync_api import sync_playwright

from catalog.models import ProductImage
from jewelry_site.settings.base import s3_media_storage
from tests.factories import ProductVariantFactory, StaffUserFactory
from tests.media import samples

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

REGION = "eu-west-2"
CLOUDFRONT = "d1abcdefexample.cloudfront.net"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def bucket(aws_env, settings, live_server):
    name = f"aurelia-browser-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=aws_env, region_name=REGION)
    client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    client.put_bucket_cors(
        Bucket=name,
        CORSConfiguration={"CORSRules": [{"AllowedOrigins": [live_server.url], "AllowedMethods": ["POST"]}]},
    )
    settings.STORAGES = {
        **settings.STORAGES,
        "default": s3_media_storage(bucket=name, region=REGION, endpoint_url=aws_env, cloudfront_domain=CLOUDFRONT),
    }
    settings.CLOUDFRONT_DOMAIN = CLOUDFRONT
    settings.IMAGE_UPLOAD_ORIGIN = aws_env  # what base.py derives from the endpoint; the CSP allows it
    return client, name


def staff_session_cookie(live_server) -> dict:
    client = Client()
    client.force_login(StaffUserFactory())
    return {"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}


def test_admin_upload_goes_straight_to_the_bucket(live_server, bucket, tmp_path):
    s3, name = bucket
    product = ProductVariantFactory().product
    cookie = staff_session_cookie(live_server)
    photo = tmp_path / "ring.jpg"
    photo.write_bytes(samples.photo(1000, 800))
    add_url = f"{live_server.url}{reverse('admin:catalog_productimage_add')}?product={product.pk}"

    # No ORM calls inside this block: Playwright's event loop runs in this thread while it is open.
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        context = browser.new_context()
        context.add_cookies([cookie])
        page = context.new_page()
        posts, errors = [], []
        page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(add_url)
        page.fill("#id_alt_text", "Aurora ring, front view")
        page.set_input_files("#id_file", str(photo))
        with page.expect_navigation(url="**/admin/catalog/product/*/change/"):
            page.click("input[type=submit]")
        message = page.locator(".messagelist").inner_text()
        browser.close()

    assert any(url.startswith(s3.meta.endpoint_url) for url in posts), posts  # the file went to the bucket
    # No CSP or CORS complaint; thumbnails on the next page fail only because the CloudFront domain is made up.
    assert [e for e in errors if "ERR_NAME_NOT_RESOLVED" not in e] == []
    assert "added with 8 renditions" in message
    image = ProductImage.objects.get()
    assert image.alt_text == "Aurora ring, front view"
    keys = sorted(item["Key"] for item in s3.list_objects_v2(Bucket=name).get("Contents", []))
    assert keys == sorted([image.image.name, *image.rendition_names])  # and the raw upload is gone
