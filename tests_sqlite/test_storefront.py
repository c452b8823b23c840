"""Issue #16 on `make run`'s SQLite: the storefront's own SQL (categories and collections read in one
UNION, the metals aggregate on cards, the word-start icontains search over shop words) and the ring's
required size, on the demo catalogue."""

import pytest
from django.test import Client
from django.urls import reverse

from catalog.models import Collection, Product
from tests_sqlite.test_journeys import demo  # noqa: F401  (the session's demo catalogue)

pytestmark = pytest.mark.django_db

SHOP = reverse("catalog:product-list")


def names(response) -> list[str]:
    return [p.name for p in response.context["products"]]


@pytest.mark.usefixtures("demo")
def test_typos_and_shop_words_find_pieces_on_sqlite():
    client = Client()
    typo = client.get(SHOP, {"q": "saphire"})
    assert typo.status_code == 200
    assert names(typo)
    assert all(p.gemstone == "sapphire" or "sapphire" in p.name.lower() for p in typo.context["products"])
    rings_sapphire = names(client.get(SHOP, {"q": "rings sapphire"}))
    assert rings_sapphire
    assert not any("earring" in name.lower() or "pendant" in name.lower() for name in rings_sapphire)
    engagement = set(names(client.get(SHOP, {"q": "engagement"})))
    in_category = set(
        Product.objects.filter(category__slug="engagement-rings", is_active=True).values_list("name", flat=True)
    )
    assert len(in_category) > 1
    assert in_category <= engagement  # the whole category, whatever its pieces' text says
    empty = client.get(SHOP, {"q": "saphire tiara"}).content.decode()
    assert "Did you mean" in empty
    assert "Try fewer filters" not in empty


@pytest.mark.usefixtures("demo")
def test_collection_pages_menu_and_metal_cards_on_sqlite():
    client = Client()
    collection = Collection.objects.filter(is_active=True).order_by("name").first()
    page = client.get(collection.get_absolute_url())
    assert page.status_code == 200
    assert set(names(page)) == set(
        collection.products.filter(is_active=True, price_from__isnull=False).values_list("name", flat=True)
    )
    home = client.get(reverse("catalog:home")).content.decode()
    assert f'href="{collection.get_absolute_url()}"' in home.split('class="category-nav"')[1]
    assert collection.get_absolute_url() in client.get("/sitemap.xml").content.decode()
    platinum = client.get(SHOP, {"metal": "platinum"})
    assert "Platinum" in platinum.content.decode() or "platinum" in platinum.content.decode()


@pytest.mark.usefixtures("demo")
def test_ring_needs_a_size_on_sqlite():
    client = Client()
    ring = Product.objects.get(slug="solstice-solitaire-ring")
    refused = client.post(reverse("cart:add"), {"product": ring.pk, "metal": "platinum", "quantity": 1})
    assert refused.status_code == 400
    assert refused.context["add_errors"]["size"] == ["Please select your size."]
    added = client.post(reverse("cart:add"), {"product": ring.pk, "metal": "platinum", "size": "L", "quantity": 1})
    assert added.status_code == 302
