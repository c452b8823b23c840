"""S3 endpoint (moto) stopped: catalogue pages still 200 and quick; an admin upload shows a clear error."""

import re
import time
from pathlib import Path

import requests

from bench.drills.common import Context, Verdict, staff_cookie
from bench.harness import Gunicorn, forms_in
from loopback import moto_start, port_open, stop

BUCKET = "bench-media"
CLOUDFRONT = "media.bench.invalid"


def _seed_bucket(endpoint: str, media_root: Path) -> int:
    """The bench's shared image files, at the same keys the image rows name."""
    import boto3

    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="eu-west-2",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 (moto on loopback)
    )
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})
    files = sorted((media_root / "bench").glob("*.*"))
    for file in files:
        kind = "image/webp" if file.suffix == ".webp" else "image/jpeg"
        s3.put_object(Bucket=BUCKET, Key=f"bench/{file.name}", Body=file.read_bytes(), ContentType=kind)
    return len(files)


def _pages(app: Gunicorn, pages: dict[str, str]) -> dict[str, tuple[int, float, bool]]:
    out = {}
    for name in ("home", "product-list", "category", "product-detail"):
        start = time.perf_counter()
        response = requests.get(app.url + pages[name], timeout=30)
        out[name] = (response.status_code, round((time.perf_counter() - start) * 1000, 1), CLOUDFRONT in response.text)
    return out


def _tiny_png() -> bytes:
    """A real 4x4 PNG made by Pillow, so the admin's image field validates it."""
    from io import BytesIO

    from PIL import Image

    buffer = BytesIO()
    Image.new("RGB", (4, 4), (200, 170, 90)).save(buffer, format="PNG")
    return buffer.getvalue()


def _admin_upload(app: Gunicorn) -> tuple[int, str, int]:
    """POST the admin's image form (no-JavaScript path) with a real PNG; returns status, error text, rows added."""
    from catalog.models import Product, ProductImage

    name, value = staff_cookie()
    session = requests.Session()
    session.cookies.set(name, value)
    token = "B" * 32
    session.cookies.set("csrftoken", token)
    add = f"{app.url}/admin/catalog/productimage/add/"
    page = session.get(add, timeout=30)
    forms = [f for f in forms_in(page.text) if f["method"] == "post"]
    if page.status_code != 200 or not forms:
        return page.status_code, "no upload form", 0
    form = max(forms, key=lambda f: len(f["fields"]))
    data, files = {"csrfmiddlewaretoken": token}, {}
    for field in form["fields"]:
        if field["tag"] == "input" and field["type"] == "file":
            files[field["name"]] = ("ring.png", _tiny_png(), "image/png")
        elif field["name"] == "product":
            data["product"] = str(Product.objects.order_by("pk").values_list("pk", flat=True).first())
        elif "alt" in field["name"]:
            data[field["name"]] = "A ring on linen, uploaded while S3 is down"
        elif field["name"] != "csrfmiddlewaretoken":
            data[field["name"]] = field.get("value") or (field.get("selected") or "")
    before = ProductImage.objects.count()
    response = session.post(add, data=data, files=files, headers={"Referer": add}, timeout=60, allow_redirects=False)
    errors = re.findall(r'<(?:ul|p|li)[^>]*class="[^"]*error[^"]*"[^>]*>(.*?)</(?:ul|p|li)>', response.text, re.S)
    text = " | ".join(re.sub(r"<[^>]+>", " ", e).strip() for e in errors)
    return response.status_code, re.sub(r"\s+", " ", text)[:300], ProductImage.objects.count() - before


def run(ctx: Context) -> Verdict:
    from django.conf import settings

    verdict = Verdict("s3-down")
    moto, endpoint = moto_start()
    try:
        seeded = _seed_bucket(endpoint, Path(settings.MEDIA_ROOT))
        verdict.note(f"moto S3 at {endpoint} (pid {moto.pid}), bucket {BUCKET} with {seeded} images")
        env = {
            "DJANGO_AWS_STORAGE_BUCKET_NAME": BUCKET,
            "DJANGO_AWS_S3_ENDPOINT_URL": endpoint,
            "DJANGO_CLOUDFRONT_DOMAIN": CLOUDFRONT,
            "DJANGO_AWS_S3_CONNECT_TIMEOUT": "1",
            "DJANGO_AWS_S3_READ_TIMEOUT": "2",
            "DJANGO_AWS_S3_MAX_ATTEMPTS": "1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "eu-west-2",
        }
        with Gunicorn(ctx.work, name="s3", extra_env=env) as app:
            up = _pages(app, ctx.pages)
            verdict.note(f"S3 up: {up} (status, ms, image URLs on {CLOUDFRONT})")
            stop(moto)
            verdict.note(f"moto stopped (pid {moto.pid}); port open: {port_open(int(endpoint.rsplit(':', 1)[1]))()}")
            down = _pages(app, ctx.pages)
            verdict.note(f"S3 down: {down}")
            verdict.check(all(s == 200 for s, _, _ in up.values()), "all catalogue pages 200 with S3 up")
            verdict.check(all(s == 200 for s, _, _ in down.values()), "all catalogue pages 200 with S3 down")
            verdict.check(max(ms for _, ms, _ in down.values()) < 1000, "each under a second with S3 down")
            verdict.check(all(cf for _, _, cf in down.values()), f"image URLs still point at {CLOUDFRONT}")
            status, error, added = _admin_upload(app)
            clear = status in (200, 400, 503) and bool(error)
            verdict.check(clear, f"admin upload with S3 down: {status}, says '{error}'")
            verdict.check(added == 0, f"image rows added by the failed upload: {added}")
    finally:
        stop(moto)
    return verdict
