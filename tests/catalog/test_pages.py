"""Storefront pages: what a shopper sees, filters, sorting, pagination and bad input."""

import re
from datetime import timedelta
from decimal import Decimal
from html import unescape
from html.parser import HTMLParser

import pytest
from django.urls import reverse
from django.utils import timezone

from catalog.models import Gemstone, Metal, Product
from catalog.money import format_money
from tests.factories import (
    CategoryFactory,
    ProductFactory,
    ProductImageFactory,
    ProductVariantFactory,
)

pytestmark = pytest.mark.django_db

SHOP = reverse("catalog:product-list")


def make_product(*, price="250.00", stock=3, **kwargs) -> Product:
    product = ProductFactory(**kwargs)
    ProductVariantFactory(product=product, price=Decimal(price), stock=stock)
    return product


def names(response) -> list[str]:
    """Names on the product cards, in page order (from the HTML: the listing may come from the cache)."""
    return [
        unescape(name) for name in re.findall(r'<h3 class="product-card__name">(.*?)</h3>', response.content.decode())
    ]


class FormFields(HTMLParser):
    """Collects the forms of a page with their inputs, to check the add-to-bag contract."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append({"attrs": attrs, "inputs": []})
        elif tag in {"input", "button", "select", "textarea"} and self.forms:
            self.forms[-1]["inputs"].append({"tag": tag, **attrs})


def forms_of(response) -> list[dict]:
    parser = FormFields()
    parser.feed(response.content.decode())
    return parser.forms


# --- Home ---------------------------------------------------------------------------------------
def test_home_shows_featured_and_new_pieces_and_categories(client):
    rings = CategoryFactory(name="Rings", slug="rings")
    child = CategoryFactory(name="Signet rings", slug="signet-rings", parent=rings)
    featured = make_product(name="Featured Halo", is_featured=True, category=rings)
    plain = make_product(name="Plain Band", category=child)
    make_product(name="Hidden Piece", is_active=False, category=rings)

    response = client.get(reverse("catalog:home"))

    assert response.status_code == 200
    assert "Featured Halo" in response.context["featured_grid"]
    assert "Plain Band" not in response.context["featured_grid"]
    assert "Featured Halo" in response.context["new_grid"]
    assert "Plain Band" in response.context["new_grid"]
    assert [c.name for c in response.context["categories"]] == ["Rings"]  # only top level
    html = response.content.decode()
    assert featured.get_absolute_url() in html
    assert plain.get_absolute_url() in html
    assert rings.get_absolute_url() in html
    assert "Hidden Piece" not in html


def test_home_and_shop_work_with_an_empty_catalogue(client):
    home = client.get(reverse("catalog:home"))
    shop = client.get(SHOP)
    assert home.status_code == 200
    assert "being photographed" in home.content.decode()
    assert shop.status_code == 200
    assert "No pieces match" in shop.content.decode()


def test_home_hides_products_without_an_active_variant(client):
    product = ProductFactory(name="Unsellable")
    ProductVariantFactory(product=product, is_active=False)
    response = client.get(reverse("catalog:home"))
    assert "Unsellable" not in response.content.decode()


def test_base_layout_has_skip_link_search_bag_and_account_links(client):
    response = client.get(reverse("catalog:home"))
    html = response.content.decode()
    assert 'class="skip-link" href="#main"' in html
    assert 'id="main"' in html
    assert f'action="{SHOP}"' in html
    assert 'name="q"' in html
    assert reverse("cart:detail") in html
    assert re.search(r'class="cart-count">0<', html)
    assert reverse("accounts:login") in html
    assert "Caring for your jewellery" in html


def test_signed_in_shopper_sees_the_account_link(client, django_user_model):
    user = django_user_model.objects.create_user(username="ada", password="pw-123456789")
    client.force_login(user)
    html = client.get(reverse("catalog:home")).content.decode()
    assert reverse("accounts:profile") in html
    assert 'href="/account/login/' not in html


# --- Product list: filters and sorting ---------------------------------------------------------
def test_list_shows_cards_with_from_price_and_badges(client):
    product = ProductFactory(name="Two Prices")
    ProductVariantFactory(product=product, price=Decimal("1250.00"), stock=5)
    ProductVariantFactory(product=product, price=Decimal("1400.50"), stock=0)
    make_product(name="Last One", stock=1)
    make_product(name="Gone", stock=0)
    old = make_product(name="Old Piece")
    Product.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=90))

    html = client.get(SHOP).content.decode()

    assert re.search(r"from</span>\s*£1,250<", html)
    assert "Only 1 left" in html
    assert "Sold out" in html
    # "New" on pieces under 30 days old, except sold-out ones: Two Prices and Last One.
    assert html.count('class="badge badge--new"') == 2


def test_filter_by_metal_and_gemstone(client):
    make_product(name="Gold Diamond", metal=Metal.YELLOW_GOLD, gemstone=Gemstone.DIAMOND)
    make_product(name="Silver Pearl", metal=Metal.SILVER, gemstone=Gemstone.PEARL)
    make_product(name="Platinum Diamond", metal=Metal.PLATINUM, gemstone=Gemstone.DIAMOND)

    assert set(names(client.get(SHOP, {"metal": ["silver", "platinum"]}))) == {"Silver Pearl", "Platinum Diamond"}
    assert set(names(client.get(SHOP, {"gemstone": "diamond"}))) == {"Gold Diamond", "Platinum Diamond"}
    assert names(client.get(SHOP, {"gemstone": "diamond", "metal": "platinum"})) == ["Platinum Diamond"]


def test_filter_by_category_includes_child_categories(client):
    rings = CategoryFactory(slug="rings", name="Rings")
    engagement = CategoryFactory(slug="engagement", name="Engagement", parent=rings)
    make_product(name="Band", category=rings)
    make_product(name="Solitaire", category=engagement)
    make_product(name="Pendant", category=CategoryFactory(slug="necklaces"))

    assert set(names(client.get(SHOP, {"category": "rings"}))) == {"Band", "Solitaire"}
    assert names(client.get(SHOP, {"category": "engagement"})) == ["Solitaire"]


def test_filter_by_price_range_uses_the_from_price(client):
    make_product(name="Small", price="95.00")
    make_product(name="Middle", price="500.00")
    make_product(name="Large", price="2500.00")

    assert set(names(client.get(SHOP, {"min_price": "100", "max_price": "500"}))) == {"Middle"}
    assert set(names(client.get(SHOP, {"min_price": "500"}))) == {"Middle", "Large"}
    assert set(names(client.get(SHOP, {"max_price": "95"}))) == {"Small"}


def test_sort_orders(client):
    cheap = make_product(name="Cheap", price="100.00")
    dear = make_product(name="Dear", price="900.00")
    middle = make_product(name="Middle", price="400.00")
    Product.objects.filter(pk=middle.pk).update(created_at=timezone.now() + timedelta(minutes=1))

    assert names(client.get(SHOP, {"sort": "price-asc"})) == ["Cheap", "Middle", "Dear"]
    assert names(client.get(SHOP, {"sort": "price-desc"})) == ["Dear", "Middle", "Cheap"]
    assert names(client.get(SHOP, {"sort": "newest"})) == ["Middle", dear.name, cheap.name]
    assert names(client.get(SHOP)) == ["Middle", "Dear", "Cheap"]


def test_junk_sort_falls_back_to_newest(client):
    make_product(name="First")
    make_product(name="Second")
    response = client.get(SHOP, {"sort": "'; DROP TABLE catalog_product; --"})
    assert response.status_code == 200
    assert names(response) == ["Second", "First"]
    assert "sort=" not in response.context["canonical_url"]


def test_unknown_metal_gemstone_and_category_are_ignored_with_a_notice(client):
    make_product(name="Silver", metal=Metal.SILVER)
    make_product(name="Gold", metal=Metal.YELLOW_GOLD)

    response = client.get(SHOP, {"metal": ["silver", "unobtainium"], "gemstone": "kryptonite", "category": "nope"})

    assert response.status_code == 200
    assert names(response) == ["Silver"]
    html = response.content.decode()
    assert "unknown metal filter, “unobtainium”" in html
    assert "unknown gemstone filter, “kryptonite”" in html
    assert "could not find the category “nope”" in html


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"min_price": "abc"}, "Enter a number."),
        ({"max_price": "-5"}, "greater than or equal to 0"),
        ({"min_price": "NaN"}, "Enter a number."),
        ({"min_price": "1e400"}, "less than or equal to"),
        ({"min_price": "900", "max_price": "100"}, "The maximum price must be at least the minimum price."),
    ],
)
def test_junk_price_rerenders_the_page_with_a_message(client, params, message):
    make_product(name="Still Listed", price="500.00")
    response = client.get(SHOP, {**params, "metal": "yellow-gold"})
    assert response.status_code == 200
    html = response.content.decode()
    assert message in html
    assert "The price filter was not applied." in html
    assert names(response) == ["Still Listed"]  # other filters still work, the bad price is dropped
    assert "price" not in response.context["canonical_url"]


def test_null_bytes_and_overlong_values_never_fail(client):
    make_product(name="Survivor")
    long_query = "ring " * 200
    for params in (
        {"q": "ri\x00ng"},
        {"q": long_query},
        {"metal": "sil\x00ver"},
        {"min_price": "1\x002"},
        {"category": "x" * 5000},
        {"page": "\x00"},
    ):
        response = client.get(SHOP, params)
        assert response.status_code == 200, params
    response = client.get(SHOP, {"q": long_query})
    assert "shortened to 100 characters" in response.content.decode()
    assert len(response.context["search_text"]) <= 100


def test_filter_form_keeps_choices_checked_and_offers_removal_chips(client):
    make_product(name="Silver", metal=Metal.SILVER)
    response = client.get(SHOP, {"metal": "silver", "min_price": "10"})
    html = response.content.decode()
    assert re.search(r'<input type="checkbox" name="metal" value="silver"[^>]*checked', html)
    chips = response.context["active_filters"]
    assert [c["label"] for c in chips] == ["Sterling silver", "From £10"]
    assert chips[0]["remove_query"] == "min_price=10"


# --- Pagination -------------------------------------------------------------------------------------
@pytest.fixture
def thirty_silver_pieces(settings):
    settings.SHOP_PRODUCTS_PER_PAGE = 12
    category = CategoryFactory(slug="all-silver")
    for i in range(30):
        make_product(name=f"Silver {i:02d}", metal=Metal.SILVER, category=category)
    make_product(name="Gold", metal=Metal.YELLOW_GOLD, category=category)


def test_pagination_keeps_the_filters(client, thirty_silver_pieces):
    response = client.get(SHOP, {"metal": "silver", "sort": "price-asc", "junk": "1"})
    assert len(response.context["products"]) == 12
    html = response.content.decode()
    assert 'href="/shop/?metal=silver&amp;sort=price-asc&amp;page=2"' in html
    assert 'rel="next"' in html
    assert "junk" not in html.split('class="pagination"')[1]

    last = client.get(SHOP, {"metal": "silver", "sort": "price-asc", "page": "3"})
    assert len(last.context["products"]) == 6
    assert all(p.metal == Metal.SILVER for p in last.context["products"])
    assert 'href="/shop/?metal=silver&amp;sort=price-asc"' in last.content.decode()  # page 1 without page=


@pytest.mark.parametrize(
    ("page", "expected"),
    [("abc", 1), ("-1", 1), ("0", 1), ("1.5", 1), ("", 1), ("99999", 3), ("9" * 50, 3), ("2", 2)],
)
def test_junk_page_falls_back_to_a_real_page(client, thirty_silver_pieces, page, expected):
    response = client.get(SHOP, {"metal": "silver", "page": page})
    assert response.status_code == 200
    assert response.context["page_obj"].number == expected
    canonical = response.context["canonical_url"]
    assert canonical.endswith("page=3" if expected == 3 else ("page=2" if expected == 2 else "metal=silver"))


def test_empty_results_page_is_friendly(client):
    make_product(name="Gold", metal=Metal.YELLOW_GOLD)
    response = client.get(SHOP, {"metal": "platinum", "page": "7"})
    assert response.status_code == 200
    assert "No pieces match" in response.content.decode()


# --- Category page ------------------------------------------------------------------------------------
def test_category_page_lists_its_own_and_child_category_products(client):
    rings = CategoryFactory(slug="rings", name="Rings", description="Bands and solitaires.")
    engagement = CategoryFactory(slug="engagement-rings", name="Engagement rings", parent=rings)
    grandchild = CategoryFactory(slug="solitaires", name="Solitaires", parent=engagement)
    make_product(name="Band", category=rings)
    make_product(name="Halo", category=engagement)
    make_product(name="Solitaire", category=grandchild)
    make_product(name="Pendant", category=CategoryFactory(slug="necklaces"))

    response = client.get(rings.get_absolute_url())

    assert response.status_code == 200
    assert set(names(response)) == {"Band", "Halo", "Solitaire"}
    html = response.content.decode()
    assert "<h1>Rings</h1>" in html
    assert engagement.get_absolute_url() in html  # sub-category link
    assert "Bands and solitaires." in html

    child = client.get(grandchild.get_absolute_url())
    crumbs = child.content.decode().split('class="breadcrumbs"')[1].split("</nav>")[0]
    assert crumbs.index("Rings") < crumbs.index("Engagement rings") < crumbs.index("Solitaires")


def test_category_page_filters_and_has_no_category_field(client):
    rings = CategoryFactory(slug="rings")
    make_product(name="Silver Ring", metal=Metal.SILVER, category=rings)
    make_product(name="Gold Ring", metal=Metal.YELLOW_GOLD, category=rings)
    response = client.get(rings.get_absolute_url(), {"metal": "silver", "category": "ignored"})
    assert names(response) == ["Silver Ring"]
    assert 'name="category"' not in response.content.decode()


def test_unknown_or_inactive_category_is_404(client):
    hidden = CategoryFactory(slug="hidden", is_active=False)
    assert client.get(reverse("catalog:category-detail", kwargs={"slug": "no-such"})).status_code == 404
    assert client.get(hidden.get_absolute_url()).status_code == 404


# --- Product detail -------------------------------------------------------------------------------------
@pytest.fixture
def ring():
    category = CategoryFactory(slug="rings", name="Rings")
    product = ProductFactory(
        name="Aurora Solitaire",
        slug="aurora-solitaire",
        category=category,
        description="A brilliant-cut diamond in a six-claw setting.",
        is_engravable=True,
    )
    gold = ProductVariantFactory(product=product, sku="AUR-YG-L", metal=Metal.YELLOW_GOLD, ring_size="L", stock=1)
    plat = ProductVariantFactory(
        product=product, sku="AUR-PT-N", metal=Metal.PLATINUM, ring_size="N", stock=0, price=Decimal("1890.00")
    )
    ProductVariantFactory(product=product, sku="AUR-OLD", is_active=False)
    ProductImageFactory(product=product, alt_text="The ring from above", position=0)
    ProductImageFactory(product=product, variant=plat, alt_text="The platinum ring", position=1)
    return product, gold, plat


def test_product_page_shows_gallery_variants_price_and_breadcrumbs(client, ring):
    product, _gold, plat = ring
    response = client.get(product.get_absolute_url())
    assert response.status_code == 200
    html = response.content.decode()
    assert "<h1" in html
    assert "Aurora Solitaire" in html
    assert 'alt="The ring from above"' in html
    assert 'alt="The platinum ring"' in html
    assert f'data-variant="{plat.pk}"' in html  # the variant's photo is marked for the gallery script
    assert 'loading="eager"' in html
    # The price is the chosen metal's (yellow gold, the first in stock); each swatch names its own.
    assert "data-price-display>£250</p>" in html
    assert '<span class="swatch__price">£1,890</span>' in html
    assert "Only 1 left" in html
    assert "Sold out" in html
    assert "AUR-OLD" not in html
    assert "Yellow gold, size L" in html
    crumbs = html.split('class="breadcrumbs')[1].split("</nav>")[0]
    assert reverse("catalog:home") in crumbs
    assert product.category.get_absolute_url() in crumbs


def test_add_to_bag_form_follows_the_cart_contract(client, ring):
    product, _gold, _plat = ring
    response = client.get(product.get_absolute_url())
    form = next(f for f in forms_of(response) if f["attrs"].get("action") == reverse("cart:add"))
    assert form["attrs"]["method"] == "post"
    inputs = form["inputs"]
    hidden_product = next(i for i in inputs if i.get("name") == "product")
    assert (hidden_product["type"], hidden_product["value"]) == ("hidden", str(product.pk))
    metals = {i["value"]: i for i in inputs if i.get("name") == "metal"}
    assert set(metals) == {"yellow-gold", "platinum"}
    assert "checked" in metals["yellow-gold"]  # the first metal in stock
    assert "disabled" in metals["platinum"]  # sold out in every size
    sizes = {i["value"]: i for i in inputs if i.get("name") == "size"}
    assert set(sizes) == {"L", "N"}
    assert not any("checked" in i for i in sizes.values()), "a ring size is never chosen for the shopper"
    quantity = next(i for i in inputs if i.get("name") == "quantity")
    assert (quantity["type"], quantity["min"], quantity["value"]) == ("number", "1", "1")
    engraving = next(i for i in inputs if i.get("name") == "engraving")
    assert "maxlength" not in engraving, "a long engraving is refused with a message, never cut by the browser"
    assert engraving["data-max-length"] == "30"
    next_field = next(i for i in inputs if i.get("name") == "next")
    assert (next_field["type"], next_field["value"]) == ("hidden", product.get_absolute_url())
    assert any(i.get("name") == "csrfmiddlewaretoken" for i in inputs)


def test_not_engravable_has_no_engraving_field_and_sold_out_cannot_be_added(client):
    product = ProductFactory(is_engravable=False)
    ProductVariantFactory(product=product, stock=0)
    response = client.get(product.get_absolute_url())
    form = next(f for f in forms_of(response) if f["attrs"].get("action") == reverse("cart:add"))
    assert not any(i.get("name") == "engraving" for i in form["inputs"])
    button = next(i for i in form["inputs"] if i["tag"] == "button")
    assert "disabled" in button
    assert response.context["is_sold_out"] is True


def test_product_without_image_uses_the_placeholder(client):
    product = make_product(name="No Photo")
    html = client.get(product.get_absolute_url()).content.decode()
    assert "img/placeholder.svg" in html
    assert 'alt="Photo coming soon"' in html


def test_unknown_inactive_or_unsellable_product_is_404(client):
    inactive = make_product(is_active=False)
    in_hidden_category = make_product(category=CategoryFactory(is_active=False))
    no_variant = ProductFactory()
    assert client.get(reverse("catalog:product-detail", kwargs={"slug": "no-such-piece"})).status_code == 404
    for product in (inactive, in_hidden_category, no_variant):
        assert client.get(product.get_absolute_url()).status_code == 404


def test_404_page_is_friendly(client):
    response = client.get("/product/does-not-exist/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "We could not find that page" in html
    assert f'action="{SHOP}"' in html  # a way out: search


# --- Money ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("1250"), "£1,250"),
        (Decimal("1250.5"), "£1,250.50"),
        (Decimal("0.99"), "£0.99"),
        ("12.345", "£12.35"),
        (None, ""),
        ("junk", ""),
    ],
)
def test_money_format(settings, value, text):
    settings.SHOP_CURRENCY_SYMBOL = "£"
    assert format_money(value) == text


def test_money_uses_the_configured_symbol(client, settings):
    settings.SHOP_CURRENCY_SYMBOL = "€"
    product = make_product(price="99.00")
    assert "€99" in client.get(product.get_absolute_url()).content.decode()
