"""No storefront page links to a broken URL: crawl from the home page and follow every link."""

from decimal import Decimal
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.files.storage import default_storage

from tests.factories import CategoryFactory, ProductFactory, ProductImageFactory, ProductVariantFactory

pytestmark = pytest.mark.django_db

MAX_PAGES = 80


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.pages: set[str] = set()
        self.assets: set[str] = set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and attrs.get("href"):
            self.pages.add(attrs["href"])
        elif tag == "form" and attrs.get("method", "get").lower() == "get" and attrs.get("action"):
            self.pages.add(attrs["action"])
        elif tag in {"img", "script"} and attrs.get("src"):
            self.assets.add(attrs["src"])
        elif tag == "link" and attrs.get("href") and attrs.get("rel") != "canonical":
            self.assets.add(attrs["href"])


def asset_exists(path: str) -> bool:
    if path.startswith(settings.STATIC_URL):
        return finders.find(path.removeprefix(settings.STATIC_URL)) is not None
    if path.startswith(settings.MEDIA_URL):
        return default_storage.exists(path.removeprefix(settings.MEDIA_URL))
    return False


@pytest.fixture
def shop():
    rings = CategoryFactory(slug="rings", name="Rings")
    bands = CategoryFactory(slug="bands", name="Bands", parent=rings)
    for i in range(5):
        product = ProductFactory(
            slug=f"piece-{i}", category=bands if i % 2 else rings, is_featured=i < 2, is_engravable=i == 0
        )
        variant = ProductVariantFactory(product=product, price=Decimal(100 + i), stock=i % 3)
        ProductImageFactory(product=product)
        ProductImageFactory(product=product, variant=variant, position=1)


def test_every_link_and_asset_on_the_storefront_works(client, shop, settings):
    settings.SHOP_PRODUCTS_PER_PAGE = 2  # so pagination links are followed too
    todo, seen, assets = ["/"], set(), set()
    while todo and len(seen) < MAX_PAGES:
        url = todo.pop()
        if url in seen:
            continue
        seen.add(url)
        response = client.get(url, follow=True)
        assert response.status_code == 200, f"{url} -> {response.status_code}"
        if "text/html" not in response["Content-Type"]:
            continue
        parser = Links()
        parser.feed(response.content.decode())
        for href in parser.pages:
            target = urljoin(url, href)
            parts = urlsplit(target)
            if parts.netloc or parts.scheme in {"mailto", "tel"}:
                continue
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            if not path.startswith(("/admin/", "/oidc/")):
                todo.append(path)
        assets |= {urljoin(url, src) for src in parser.assets}
    assert {"/", "/shop/", "/category/rings/", "/product/piece-0/", "/shop/?page=2"} <= seen
    missing = sorted(a for a in assets if not asset_exists(a))
    assert not missing, missing
