"""SEO: canonical URLs, meta descriptions, JSON-LD, sitemap.xml, robots.txt, error pages."""

import json
import re
import xml.etree.ElementTree as ET
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.template import loader
from django.test import Client
from django.urls import path, reverse

from catalog.models import Metal
from jewelry_site import urls as project_urls
from tests.factories import CategoryFactory, ProductFactory, ProductImageFactory, ProductVariantFactory

pytestmark = pytest.mark.django_db

SHOP = reverse("catalog:product-list")
SITEMAP_NS = {"sm": "http://www.sitemaps.org/schemas/sitemap/0.9"}


def canonical(response) -> str:
    match = re.search(r'<link rel="canonical" href="([^"]+)">', response.content.decode())
    assert match, "no canonical link"
    return match.group(1).replace("&amp;", "&")


def meta_description(response) -> str:
    match = re.search(r'<meta name="description" content="([^"]*)">', response.content.decode())
    assert match, "no meta description"
    return match.group(1)


def json_ld(response) -> list[dict]:
    blocks = re.findall(r'<script type="application/ld\+json">(.*?)</script>', response.content.decode(), re.S)
    return [json.loads(block) for block in blocks]


def sitemap_root(client) -> ET.Element:
    return ET.fromstring(client.get("/sitemap.xml").content)  # noqa: S314 (our own output, not untrusted)


def make_product(**kwargs):
    product = ProductFactory(**kwargs)
    ProductVariantFactory(product=product)
    return product


# --- Canonical URLs ------------------------------------------------------------------------------------
def test_canonical_urls_are_absolute_and_drop_junk_params(client):
    make_product(metal=Metal.SILVER)
    assert canonical(client.get(reverse("catalog:home"), {"utm_source": "x"})) == "http://testserver/"
    assert canonical(client.get(SHOP, {"page": "abc", "sort": "bogus", "fbclid": "1"})) == "http://testserver/shop/"
    kept = canonical(client.get(SHOP, {"metal": ["silver", "nope"], "sort": "price-asc", "gclid": "2"}))
    assert kept == "http://testserver/shop/?metal=silver&sort=price-asc"


def test_canonical_of_category_and_product(client):
    category = CategoryFactory(slug="rings")
    product = make_product(slug="halo-ring", category=category)
    assert canonical(client.get(category.get_absolute_url(), {"page": "x"})) == "http://testserver/category/rings/"
    assert canonical(client.get(product.get_absolute_url(), {"ref": "mail"})) == "http://testserver/product/halo-ring/"


def test_error_page_is_noindex(client):
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    assert '<meta name="robots" content="noindex">' in response.content.decode()


# --- Meta descriptions -----------------------------------------------------------------------------------
def test_product_meta_description_prefers_the_seo_field(client):
    product = make_product(seo_description="Our signature solitaire in platinum.", description="Long text")
    assert meta_description(client.get(product.get_absolute_url())) == "Our signature solitaire in platinum."


def test_product_meta_description_falls_back_to_a_description_excerpt(client):
    product = make_product(description="<p>A very</p> long\n\ndescription. " + "Word " * 80)
    description = meta_description(client.get(product.get_absolute_url()))
    assert description.startswith("A very long description. Word")
    assert len(description) <= 160
    assert description.endswith("…")


def test_category_and_list_pages_have_meta_descriptions(client):
    category = CategoryFactory(slug="pearls", name="Pearls", seo_description="Freshwater and Akoya pearls.")
    bare = CategoryFactory(slug="bare", name="Bare")
    assert meta_description(client.get(category.get_absolute_url())) == "Freshwater and Akoya pearls."
    assert "Bare" in meta_description(client.get(bare.get_absolute_url()))
    assert meta_description(client.get(SHOP))
    assert meta_description(client.get(reverse("catalog:home")))


# --- JSON-LD ---------------------------------------------------------------------------------------------
def test_product_json_ld_has_offers_per_variant(client, settings):
    settings.SHOP_CURRENCY = "GBP"
    product = ProductFactory(name="Halo </script> Ring", slug="halo", description="Diamond halo.")
    ProductVariantFactory(product=product, sku="HALO-YG", metal=Metal.YELLOW_GOLD, price=Decimal("1250.00"), stock=2)
    ProductVariantFactory(product=product, sku="HALO-PT", metal=Metal.PLATINUM, price=Decimal("1890.50"), stock=0)
    ProductVariantFactory(product=product, sku="HALO-OFF", is_active=False)
    ProductImageFactory(product=product, alt_text="Halo ring")

    response = client.get(product.get_absolute_url())
    blocks = json_ld(response)
    data = next(b for b in blocks if b["@type"] == "Product")

    assert data["@context"] == "https://schema.org"
    assert data["name"] == "Halo </script> Ring"
    assert data["url"] == "http://testserver/product/halo/"
    assert data["image"][0].startswith("http://testserver/media/products/halo/")
    offers = {offer["sku"]: offer for offer in data["offers"]}
    assert set(offers) == {"HALO-YG", "HALO-PT"}
    assert offers["HALO-YG"]["price"] == "1250.00"
    assert offers["HALO-PT"]["price"] == "1890.50"
    assert {o["priceCurrency"] for o in offers.values()} == {"GBP"}
    assert offers["HALO-YG"]["availability"] == "https://schema.org/InStock"
    assert offers["HALO-PT"]["availability"] == "https://schema.org/OutOfStock"
    assert offers["HALO-YG"]["url"] == data["url"]
    # The closing tag in the name cannot end the script block early.
    assert "Halo </script> Ring" not in response.content.decode()


def test_breadcrumb_json_ld(client):
    rings = CategoryFactory(slug="rings", name="Rings")
    bands = CategoryFactory(slug="bands", name="Bands", parent=rings)
    product = make_product(name="Court Band", slug="court-band", category=bands)
    crumbs = next(b for b in json_ld(client.get(product.get_absolute_url())) if b["@type"] == "BreadcrumbList")
    items = crumbs["itemListElement"]
    assert [i["name"] for i in items] == ["Maison Aurelia", "Rings", "Bands", "Court Band"]
    assert [i["position"] for i in items] == [1, 2, 3, 4]
    assert items[2]["item"] == "http://testserver/category/bands/"


def test_currency_comes_from_settings(client, settings):
    settings.SHOP_CURRENCY = "EUR"
    product = make_product()
    data = next(b for b in json_ld(client.get(product.get_absolute_url())) if b["@type"] == "Product")
    assert data["offers"][0]["priceCurrency"] == "EUR"


# --- sitemap.xml and robots.txt ---------------------------------------------------------------------------
def test_sitemap_lists_static_pages_categories_and_sellable_products(client):
    rings = CategoryFactory(slug="rings")
    CategoryFactory(slug="retired", is_active=False)
    make_product(slug="halo", category=rings)
    make_product(slug="hidden", is_active=False)
    ProductFactory(slug="no-variant")

    response = client.get("/sitemap.xml")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/xml")
    root = sitemap_root(client)
    urls = {loc.text for loc in root.findall("sm:url/sm:loc", SITEMAP_NS)}
    assert {
        "http://testserver/",
        "http://testserver/shop/",
        "http://testserver/category/rings/",
        "http://testserver/product/halo/",
    } <= urls
    assert not any("hidden" in u or "no-variant" in u or "retired" in u for u in urls)
    product_entry = next(
        u for u in root.findall("sm:url", SITEMAP_NS) if u.find("sm:loc", SITEMAP_NS).text.endswith("/halo/")
    )
    assert product_entry.find("sm:lastmod", SITEMAP_NS) is not None


def test_every_sitemap_url_answers_200(client):
    make_product(slug="halo", category=CategoryFactory(slug="rings"))
    root = sitemap_root(client)
    for loc in root.findall("sm:url/sm:loc", SITEMAP_NS):
        page = loc.text.removeprefix("http://testserver")
        assert client.get(page).status_code == 200, page


def test_robots_txt(client):
    response = client.get("/robots.txt")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    lines = response.content.decode().splitlines()
    for private in ("/admin/", "/cart/", "/checkout/", "/account/"):
        assert f"Disallow: {private}" in lines
    assert "Sitemap: http://testserver/sitemap.xml" in lines
    assert "User-agent: *" in lines


def test_favicon_ico_redirects_to_the_svg_icon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"].endswith("img/favicon.svg")


# --- Error pages ---------------------------------------------------------------------------------------------
def test_500_template_renders_without_context_or_database(django_assert_num_queries):
    with django_assert_num_queries(0):
        html = loader.get_template("500.html").render()
    assert "Something went wrong" in html
    assert 'href="/"' in html


def test_500_page_is_served_on_an_unexpected_error(client, settings):
    # A view that raises stands in for any bug; the handler must still answer with our page.
    def boom(request):
        raise RuntimeError("boom")

    urlconf = type("Urls", (), {"urlpatterns": [path("boom/", boom), *project_urls.urlpatterns]})
    settings.ROOT_URLCONF = urlconf
    response = Client(raise_request_exception=False).get("/boom/")
    assert response.status_code == 500
    assert "Something went wrong on our side" in response.content.decode()


def test_templates_have_no_inline_scripts_styles_or_handlers():
    """A strict Content-Security-Policy is coming: only JSON-LD scripts may be inline."""
    root = Path(django_settings.BASE_DIR) / "templates"
    ours = [root / "base.html", root / "404.html", root / "500.html", *(root / "catalog").glob("*.html")]
    ours += [
        root / "includes" / name
        for name in (
            "_product_image.html",
            "_product_card.html",
            "_product_grid.html",
            "_pagination.html",
            "_product_filters.html",
            "_listing.html",
            "_category_nav.html",
            "_add_to_cart_form.html",
        )
    ]
    for template in ours:
        text = template.read_text()
        assert "<style" not in text, template
        assert ' style="' not in text, template
        assert not re.search(r"\son[a-z]+=\"", text), template
        for script in re.findall(r"<script[^>]*>", text):
            assert 'type="application/ld+json"' in script or " src=" in script, (template, script)
