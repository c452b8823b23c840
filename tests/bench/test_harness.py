"""The benchmark's own pieces (bench/): the reference view is one indexed query, the bulk loader
makes what it claims, bench settings stay production-like, and the form helpers read real pages."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

from bench.catalog_data import catalogue_load
from bench.harness import fill_form, forms_in
from bench.run import _filter_query
from catalog.models import Product, ProductImage, ProductVariant

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_reference_view_reads_24_rows_in_one_query(client, settings, django_assert_num_queries):
    settings.ROOT_URLCONF = "bench.urls"
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [*settings.TEMPLATES[0]["DIRS"], REPO / "bench/templates"]}]
    catalogue_load(products=30)
    with django_assert_num_queries(1):
        response = client.get(reverse("bench-reference"))
    assert response.status_code == 200
    assert response.content.decode().count('class="product-card"') == 24


@pytest.mark.django_db
def test_catalogue_load_makes_products_variants_and_images_on_disk(settings):
    counts = catalogue_load(products=40)
    assert counts["products"] == 40
    assert ProductVariant.objects.count() == 120
    assert ProductVariant.objects.filter(stock__lt=1000).count() == 0
    image = ProductImage.objects.first()
    assert (Path(settings.MEDIA_ROOT) / image.image.name).is_file()
    assert Product.objects.filter(is_featured=True).exists()
    # Creation dates are spread, so "newest" is a real ordering.
    assert Product.objects.values("created_at").distinct().count() == 40


def test_bench_settings_are_production_like_but_plain_http():
    code = (
        "import django; from django.conf import settings as s; django.setup(); "
        "print(s.DEBUG, s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.ROOT_URLCONF, "
        "s.STORAGES['staticfiles']['BACKEND'].rsplit('.', 1)[1])"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "bench.settings"}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False", "False", "bench.urls", "CompressedManifestStaticFilesStorage"]


def test_bench_settings_lift_the_limits_its_order_rows_would_hit():
    """Every bench shopper is 127.0.0.1: a per-address limit left on turns a row into a count of 429s."""
    names = [
        "SHOP_ORDER_RATE_PER_IP",
        "SHOP_ORDER_RATE_PER_SESSION",
        "SHOP_ORDER_RATE_PER_EMAIL",
        "SHOP_CARD_ATTEMPTS_PER_IP",
        "SHOP_PAY_PAGE_PER_IP",
    ]
    code = (
        "import django; from django.conf import settings as s; django.setup(); "
        f"print(*[getattr(s, n) for n in {names}])"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "bench.settings"}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["1000000/h"] * len(names)


def test_filter_query_and_form_filling_follow_the_markup():
    html = """
    <form method="get"><select name="sort"><option value="newest">New</option><option value="price-asc">Price</option>
    </select><input type="checkbox" name="metal" value="silver"><input type="checkbox" name="metal" value="white-gold">
    <input type="number" name="max_price"></form>
    <form method="post"><input type="hidden" name="checkout_token" value="abc"><input name="email" required>
    <input name="full_name"><input name="postcode"><select name="country"><option value="">-</option>
    <option value="FR">France</option><option value="GB">United Kingdom</option></select>
    <input type="radio" name="shipping" value="standard" checked><input type="radio" name="shipping" value="express">
    <textarea name="gift_message"></textarea></form>"""
    assert _filter_query(html) == {"sort": "price-asc", "metal": "white-gold", "max_price": "2000"}
    checkout = forms_in(html)[1]
    data = fill_form(checkout, email="a@example.com")
    assert data == {
        "checkout_token": "abc",
        "email": "a@example.com",
        "full_name": "Ada Lovelace",
        "postcode": "SW1A 1AA",
        "country": "GB",
        "shipping": "standard",
        "gift_message": "",
    }


@pytest.mark.django_db
def test_checkout_pause_hook_stops_inside_order_placement(client, settings, monkeypatch, tmp_path):
    """The crash drill's hook fires after the order row and the stock change, before commit; when
    nobody kills the worker it fails the request, so nothing is saved."""
    from django.apps import apps

    from bench import hooks

    marker = tmp_path / "pause.json"
    monkeypatch.setenv("BENCH_PAUSE_MARKER", str(marker))
    monkeypatch.setattr(hooks, "HOLD_SECONDS", 0)
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "bench.hooks.CheckoutPauseMiddleware"]
    catalogue_load(products=3)
    variant = ProductVariant.objects.order_by("pk").first()
    client.post(reverse("cart:add"), {"variant": variant.pk, "quantity": 1, "next": reverse("cart:detail")})
    page = client.get(reverse("orders:checkout"))
    form = max((f for f in forms_in(page.content.decode()) if f["method"] == "post"), key=lambda f: len(f["fields"]))
    with pytest.raises(RuntimeError, match="pause expired"):
        client.post(reverse("orders:checkout"), fill_form(form), headers={hooks.HEADER: "checkout"})
    seen = json.loads(marker.read_text())
    assert seen["pid"] == os.getpid()
    assert {"order-insert", "stock-update"} <= set(seen["seen"])
    assert apps.get_model("orders", "Order").objects.count() == 0
    variant.refresh_from_db()
    assert variant.stock == 1_000_000


def test_bench_never_imports_from_tests():
    """bench/ is run without the test suite; shared loopback helpers live in loopback/."""
    import ast

    offenders = []
    for path in (REPO / "bench").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.relative_to(REPO)}: {name}" for name in names if name.split(".")[0] == "tests"]
    assert offenders == []


def _slice(rps: float, p50_ms: float = 10.0, p99_ms: float = 20.0, **status) -> dict:
    seconds = 2
    return {
        "requests": int(rps * seconds),
        "rps": rps,
        "duration_us": seconds * 1e6,
        "latency_us": {"p50": p50_ms * 1000, "p99": p99_ms * 1000},
        "status": {"2xx": int(rps * seconds), **status},
        "socket_errors": 0,
    }


def test_each_slice_is_compared_with_the_reference_just_before_and_after_it():
    """R B R B R: a reference that drifts from 400 to 300 req/s leaves the ratios alone."""
    from bench.rows import Row
    from bench.run import interleaved, print_table, table_rows

    calls: list[str] = []
    reference_rps = iter([400.0, 350.0, 300.0])
    row_rps = iter([375.0, 325.0])

    def reference(seconds, index):
        calls.append(f"R{index}")
        return _slice(next(reference_rps))

    def page(seconds, index):
        calls.append(f"B{index}")
        return _slice(next(row_rps), p99_ms=30.0 + index)

    measured = interleaved(page, reference, slices=2, seconds=2)
    assert calls == ["R0", "B0", "R1", "B1", "R2"]
    assert measured["ratios"] == [1.0, 1.0]  # a single reference run first would have said 0.94 and 0.81

    rows = {"home": Row("home", make=lambda: page)}
    table = table_rows({"home": measured}, rows, queries={})
    reference_line, home = table
    assert reference_line["page"] == "reference"
    assert reference_line["spread"] == [0.86, 1.14]  # its own drift, over the median (350)
    assert (home["ratio"], home["spread"], home["reference_rps"]) == (1.0, [1.0, 1.0], 350.0)
    assert (home["rps"], home["p99_ms"], home["meets_targets"]) == (350.0, 31.0, True)
    print_table(table, slices=2, seconds=2)


def test_slices_split_the_row_time_and_never_go_below_one_second():
    from bench.run import slice_plan

    assert slice_plan(6, 3) == (3, 2)
    assert slice_plan(2, 3) == (3, 1)
    assert slice_plan(5, 0) == (1, 5)
