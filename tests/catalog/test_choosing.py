"""Issue #16, "Choosing a piece": a ring size that must be chosen, choices that survive a refusal, an
engraving that is refused (never cut) over the limit, and the chosen variant kept after an add."""

import re
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from cart.models import CartLine
from catalog.models import Metal
from tests.factories import CategoryFactory, ProductFactory, ProductImageFactory, ProductVariantFactory

pytestmark = pytest.mark.django_db

ADD = reverse("cart:add")


@pytest.fixture
def ring():
    """An engravable ring in yellow gold (sizes J, L, N) and platinum (L, N; N sold out)."""
    product = ProductFactory(
        name="Solstice Solitaire", slug="solstice", category=CategoryFactory(slug="rings"), is_engravable=True
    )
    variants = {}
    for metal, price in ((Metal.YELLOW_GOLD, "1850.00"), (Metal.PLATINUM, "2300.00")):
        for size in ("J", "L", "N"):
            if metal == Metal.PLATINUM and size == "J":
                continue
            stock = 0 if (metal, size) == (Metal.PLATINUM, "N") else (1 if size == "J" else 4)
            variants[metal, size] = ProductVariantFactory(
                product=product,
                sku=f"SOL-{metal}-{size}",
                metal=metal,
                ring_size=size,
                stock=stock,
                price=Decimal(price),
            )
    ProductImageFactory(product=product, alt_text="Solitaire in yellow gold", position=0)
    ProductImageFactory(
        product=product, variant=variants[Metal.PLATINUM, "L"], alt_text="Solitaire in platinum", position=1
    )
    return product, variants


def post(client, piece, **data):
    return client.post(ADD, {"product": piece.pk, "quantity": 1, "next": piece.get_absolute_url(), **data})


def checked(html: str, name: str) -> list[str]:
    return re.findall(rf'<input type="radio" name="{name}" id="[^"]+" value="([^"]+)"[^>]*\bchecked\b', html)


def test_ring_page_asks_for_a_size_and_selects_none(client, ring, settings):
    product, _variants = ring
    settings.SHOP_SIZE_GUIDE_URL = ""
    html = client.get(product.get_absolute_url()).content.decode()
    assert "Select your size" in html
    assert checked(html, "size") == []
    assert checked(html, "metal") == ["yellow-gold"]
    assert "Find your size" not in html  # no guide configured, no dead link
    assert "Choose a size to see availability" in html


@pytest.mark.parametrize(
    ("setting", "link"),
    [("/pages/ring-size-guide/", "/pages/ring-size-guide/"), ("catalog:product-list", "/shop/"), ("pages:nope", None)],
)
def test_size_guide_link_comes_from_the_setting(client, ring, settings, setting, link):
    product, _variants = ring
    settings.SHOP_SIZE_GUIDE_URL = setting
    html = client.get(product.get_absolute_url()).content.decode()
    if link:
        assert f'<a href="{link}">Find your size</a>' in html
    else:
        assert "Find your size" not in html  # an unknown URL name is no link, not a 500


def test_add_without_a_size_is_refused_next_to_the_size_with_everything_kept(client, ring):
    product, _variants = ring
    response = post(client, product, metal="platinum", quantity=2, engraving="Toujours ♥")
    assert response.status_code == 400
    assert not CartLine.objects.exists()
    html = response.content.decode()
    size_block = html.split('class="choice choice--size')[1].split("</fieldset>")[0]
    assert '<p class="field-error" id="size-error">Please select your size.</p>' in size_block
    assert checked(html, "metal") == ["platinum"]
    assert 'name="quantity" value="2"' in html
    assert 'value="Toujours ♥"' in html
    assert '<details class="engraving" open>' in html


def test_over_long_engraving_is_refused_with_the_limit_and_never_cut(client, ring):
    product, _variants = ring
    text = "Forever and always, my love, 2026"  # 33 characters
    response = post(client, product, metal="yellow-gold", size="L", engraving=text)
    assert response.status_code == 400
    assert not CartLine.objects.exists()
    html = response.content.decode()
    assert f'value="{text}"' in html  # every character kept for the shopper to shorten
    assert "Engraving can be at most 30 characters." in html.split('id="add-engraving"')[1].split("</details>")[0]
    assert checked(html, "size") == ["L"]
    assert checked(html, "metal") == ["yellow-gold"]
    assert "33 of 30 characters" in html
    assert "maxlength" not in html.split('id="add-engraving"')[1].split(">")[0]


def test_a_thousand_character_engraving_still_names_the_limit(client, ring):
    product, _variants = ring
    response = post(client, product, metal="yellow-gold", size="L", engraving="x" * 5000)
    assert response.status_code == 400
    assert response.context["add_errors"]["engraving"] == ["Engraving can be at most 30 characters."]


def test_engraving_rules_and_fee_are_on_the_page(client, ring, settings):
    product, _variants = ring
    settings.SHOP_ENGRAVING_FEE = Decimal("25.00")
    html = client.get(product.get_absolute_url()).content.decode()
    assert 'Add an engraving <span class="engraving__fee">(+£25)</span>' in html
    assert "letters (accents welcome), numbers, spaces and &amp; . , ' - ♥" in html
    assert "Up to 30 characters" in html


def test_quantity_above_stock_is_refused_next_to_the_quantity(client, ring):
    product, _variants = ring
    response = post(client, product, metal="yellow-gold", size="J", quantity=3)
    assert response.status_code == 400
    html = response.content.decode()
    assert '<p class="field-error" id="quantity-error">Only 1 available in Yellow gold, size J' in html
    assert checked(html, "size") == ["J"]
    assert 'name="quantity" value="3"' in html


def test_a_size_sold_out_in_the_chosen_metal_is_refused_by_the_size(client, ring):
    product, _variants = ring
    response = post(client, product, metal="platinum", size="N")
    assert response.status_code == 400
    assert "sold out" in response.context["add_errors"]["size"][0]
    response = post(client, product, metal="platinum", size="J")  # not made in platinum
    assert "is not made in platinum" in response.context["add_errors"]["size"][0]
    assert not CartLine.objects.exists()


def test_forged_choices_are_refused_without_a_500(client, ring):
    product, _variants = ring
    other = ProductVariantFactory(product=ProductFactory(name="Other"), stock=5)
    for data in (
        {"metal": "gold-plated", "size": "L"},
        {"metal": "rose-gold", "size": "L"},
        {"metal": "yellow-gold", "size": "Z" * 50},
        {"product": 987654321, "metal": "yellow-gold", "size": "L"},
        {"product": "abc"},
    ):
        response = post(client, product, **data)
        assert response.status_code in (302, 400), data
    assert not CartLine.objects.exists()
    # A size posted for a piece without sizes is ignored, the metal is enough.
    assert post(client, other.product, metal=other.metal, size="L").status_code == 302
    assert CartLine.objects.get().variant == other


def test_success_keeps_the_chosen_variant_and_offers_bag_and_checkout(client, ring):
    product, variants = ring
    chosen = variants[Metal.PLATINUM, "L"]
    response = post(client, product, metal="platinum", size="L")
    assert response.status_code == 302
    assert response["Location"] == f"{product.get_absolute_url()}?variant={chosen.pk}"
    assert CartLine.objects.get().variant == chosen
    page = client.get(response["Location"])
    html = page.content.decode()
    assert checked(html, "metal") == ["platinum"]
    assert checked(html, "size") == ["L"]
    assert "data-spec-metal>Platinum</dd>" in html  # the spec table follows the chosen variant
    assert "£2,300" in html.split("data-price-display>")[1].split("</p>")[0]
    message = html.split('class="messages"')[1].split("</div>")[0]
    assert "is in your bag" in message
    assert f'<a href="{reverse("cart:detail")}">View bag</a>' in message
    assert f'<a href="{reverse("orders:checkout")}">Checkout</a>' in message
    # The platinum photo leads the gallery for a platinum choice (seen without JavaScript too).
    assert html.index('alt="Solitaire in platinum"') < html.index('alt="Solitaire in yellow gold"')


def test_bag_thumbnail_shows_the_chosen_metal(client, ring):
    product, _variants = ring
    post(client, product, metal="platinum", size="L")
    post(client, product, metal="yellow-gold", size="L")
    html = client.get(reverse("cart:detail")).content.decode()
    lines = html.split('class="bag-line"')[1:]
    by_sku = {("PT" if "platinum-L" in line else "YG"): line for line in lines}
    assert 'alt="Solitaire in platinum"' in by_sku["PT"]  # a size without its own photo: its metal's
    assert 'alt="Solitaire in yellow gold"' in by_sku["YG"]


def test_single_variant_piece_is_added_with_its_only_metal(client):
    pendant = ProductVariantFactory(product=ProductFactory(name="Tide Pendant"), stock=2)
    html = client.get(pendant.product.get_absolute_url()).content.decode()
    assert "Select your size" not in html
    response = client.post(ADD, {"product": pendant.product.pk, "quantity": 1})
    assert response.status_code == 302
    assert CartLine.objects.get().variant == pendant


def test_a_withdrawn_piece_redirects_with_a_message(client, ring):
    product, _variants = ring
    product.is_active = False
    product.save()
    response = post(client, product, metal="yellow-gold", size="L")
    assert response.status_code == 302
    assert [str(m) for m in get_messages(response.wsgi_request)] == ["Sorry, that piece is not available."]


@pytest.mark.parametrize("junk", ["abc", "-1", "99999999999999999999999", "", "1e3"])
def test_junk_variant_parameter_shows_the_default_choice(client, ring, junk):
    product, _variants = ring
    response = client.get(product.get_absolute_url(), {"variant": junk})
    assert response.status_code == 200
    assert checked(response.content.decode(), "size") == []


def test_another_products_variant_parameter_is_ignored(client, ring):
    product, _variants = ring
    stranger = ProductVariantFactory(product=ProductFactory(name="Stranger"), metal=Metal.SILVER)
    response = client.get(product.get_absolute_url(), {"variant": stranger.pk})
    assert checked(response.content.decode(), "metal") == ["yellow-gold"]
