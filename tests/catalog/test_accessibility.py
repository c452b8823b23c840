"""Basic accessibility checks on the storefront HTML: labels, alt text, unique ids, one h1, lang."""

from collections import Counter
from decimal import Decimal
from html.parser import HTMLParser

import pytest
from django.urls import reverse

from tests.factories import CategoryFactory, ProductFactory, ProductImageFactory, ProductVariantFactory

pytestmark = pytest.mark.django_db


class Audit(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.label_for: set[str] = set()
        self.fields: list[dict] = []
        self.images: list[dict] = []
        self.h1 = 0
        self.html_lang = None
        self._label_depth = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.append(attrs["id"])
        if tag == "html":
            self.html_lang = attrs.get("lang")
        elif tag == "h1":
            self.h1 += 1
        elif tag == "label":
            self._label_depth += 1
            if attrs.get("for"):
                self.label_for.add(attrs["for"])
        elif tag in {"input", "select", "textarea"} and attrs.get("type") not in {"hidden", "submit"}:
            self.fields.append({**attrs, "_wrapped": self._label_depth > 0})
        elif tag == "img":
            self.images.append(attrs)

    def handle_endtag(self, tag):
        if tag == "label":
            self._label_depth -= 1


@pytest.fixture
def pages():
    rings = CategoryFactory(slug="rings", name="Rings")
    product = ProductFactory(slug="halo", category=rings, is_engravable=True)
    ProductVariantFactory(product=product, price=Decimal("900.00"), stock=1)
    ProductVariantFactory(product=product, price=Decimal("950.00"), stock=0)
    ProductImageFactory(product=product)
    ProductImageFactory(product=product, position=1)
    ProductFactory(slug="no-photo", category=rings)
    return [
        reverse("catalog:home"),
        reverse("catalog:product-list"),
        reverse("catalog:product-list") + "?q=ring&metal=silver&min_price=abc",
        rings.get_absolute_url(),
        product.get_absolute_url(),
        "/no-such-page/",
    ]


def test_storefront_pages_pass_basic_accessibility_checks(client, pages):
    for url in pages:
        audit = Audit()
        audit.feed(client.get(url).content.decode())
        assert audit.html_lang == "en-GB", url
        assert audit.h1 == 1, f"{url}: {audit.h1} h1 elements"
        duplicates = [i for i, n in Counter(audit.ids).items() if n > 1]
        assert not duplicates, f"{url}: duplicate ids {duplicates}"
        for field in audit.fields:
            named = field["_wrapped"] or field.get("id") in audit.label_for or field.get("aria-label")
            assert named, f"{url}: unlabelled field {field}"
        for image in audit.images:
            assert "alt" in image, f"{url}: image without alt {image}"
