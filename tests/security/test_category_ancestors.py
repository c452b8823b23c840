"""Issue 21: a category is on sale only if every ancestor is (catalog.models.category_on_sale_q).

Switching off "Archive" left "Archive › Prototypes", its product pages and add-to-bag working. The ancestor
check is part of the one sellable rule (joins, not a query per row), so every surface follows it: lists,
category pages, product pages, search, the sitemap, the bag, checkout and back-in-stock sign-ups.
"""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from catalog.models import SELLABLE_RELATED, Category, ProductVariant
from orders.models import Order
from orders.services import OutOfStockError
from restock.models import RestockSignup
from tests.factories import CategoryFactory, ProductFactory, ProductVariantFactory, StaffUserFactory
from tests.orders.conftest import cart_with, place

pytestmark = pytest.mark.django_db

NAME = "Secret Prototype Tiara"


@pytest.fixture
def tree():
    """Archive › Prototypes › Tiaras, each switched on, with one piece in the deepest."""
    archive = CategoryFactory(name="Archive", slug="archive")
    prototypes = CategoryFactory(name="Prototypes", slug="prototypes", parent=archive)
    tiaras = CategoryFactory(name="Tiaras", slug="tiaras", parent=prototypes)
    variant = ProductVariantFactory(product=ProductFactory(name=NAME, slug="secret-tiara", category=tiaras), stock=3)
    return archive, prototypes, tiaras, variant


def switch_off(category: Category) -> None:
    category.is_active = False
    category.save()  # as the admin does: the catalogue's cache versions follow


@pytest.mark.parametrize("level", [0, 1, 2], ids=["grandparent", "parent", "own category"])
def test_the_sellable_rule_follows_every_ancestor(tree, level, django_assert_num_queries):
    *categories, variant = tree
    assert list(ProductVariant.objects.sellable()) == [variant]
    switch_off(categories[level])

    assert list(ProductVariant.objects.sellable()) == []
    assert list(Category.objects.on_sale().filter(pk__in=[c.pk for c in categories])) == categories[:level]
    with django_assert_num_queries(1):  # the loaded-row form of the rule reads its ancestors from the join
        assert ProductVariant.objects.select_related(SELLABLE_RELATED).get(pk=variant.pk).is_sellable is False


def test_shop_pages_search_and_sitemap_hide_a_switched_off_parents_children(client, tree):
    archive, prototypes, tiaras, variant = tree
    assert client.get(variant.product.get_absolute_url()).status_code == 200  # control: on sale before
    assert NAME in client.get(reverse("catalog:product-list")).content.decode()
    switch_off(archive)

    assert client.get(variant.product.get_absolute_url()).status_code == 404
    assert client.get(prototypes.get_absolute_url()).status_code == 404
    assert client.get(tiaras.get_absolute_url()).status_code == 404
    shop = reverse("catalog:product-list")
    for page in (shop, shop + "?q=tiara", shop + "?q=prototype", reverse("catalog:home")):
        body = client.get(page).content.decode()
        assert NAME not in body
        assert "Prototypes" not in body  # nor in the menu
    sitemap = client.get("/sitemap.xml").content.decode()
    assert "secret-tiara" not in sitemap
    assert "/prototypes/" not in sitemap
    assert "/tiaras/" not in sitemap


def test_add_to_bag_refuses_a_piece_under_a_switched_off_parent_and_names_nothing(client, tree):
    archive, _, _, variant = tree
    switch_off(archive)

    response = client.post(reverse("cart:add"), {"variant": variant.pk, "quantity": 1})

    assert response.status_code == 302
    notes = [str(m) for m in get_messages(response.wsgi_request)]
    assert notes == ["Sorry, that piece is not available."]
    assert client.get(reverse("cart:detail")).context["summary"].count == 0


def test_the_bag_drops_and_checkout_refuses_a_piece_whose_parent_was_switched_off_after_bagging(client, tree):
    archive, _, _, variant = tree
    client.post(reverse("cart:add"), {"variant": variant.pk, "quantity": 1})
    cart = cart_with((variant, 1))
    switch_off(archive)

    assert client.get(reverse("cart:detail")).context["summary"].count == 0
    with pytest.raises(OutOfStockError):
        place(cart)
    assert not Order.objects.exists()
    assert ProductVariant.objects.get(pk=variant.pk).stock == 3


def test_back_in_stock_refuses_a_piece_under_a_switched_off_parent(client, tree):
    archive, _, _, variant = tree
    ProductVariant.objects.filter(pk=variant.pk).update(stock=0)
    switch_off(archive)

    response = client.post(reverse("restock:signup"), {"variant": variant.pk, "email": "fan@example.com"})

    assert response.status_code == 404
    assert NAME not in response.content.decode()
    assert not RestockSignup.objects.exists()


@pytest.fixture
def staff_client(client):
    client.force_login(StaffUserFactory())
    return client


def category_form(*, name: str, slug: str, parent: Category) -> dict[str, str]:
    return {"name": name, "slug": slug, "parent": str(parent.pk), "position": "0", "is_active": "on"}


def test_the_admin_refuses_a_fourth_level_and_a_cycle(staff_client, tree):
    """The rule checks a fixed number of ancestors, so the tree may not grow past them nor loop."""
    archive, _, tiaras, _ = tree
    add = reverse("admin:catalog_category_add")
    response = staff_client.post(add, category_form(name="Diadems", slug="diadems", parent=tiaras))
    assert response.status_code == 200
    assert "Categories go at most 3 levels deep" in response.content.decode()
    assert not Category.objects.filter(slug="diadems").exists()

    change = reverse("admin:catalog_category_change", args=[archive.pk])
    response = staff_client.post(change, category_form(name="Archive", slug="archive", parent=tiaras))
    assert response.status_code == 200
    assert "A category cannot sit inside itself." in response.content.decode()
    assert Category.objects.get(pk=archive.pk).parent_id is None


def test_a_category_deeper_than_the_limit_written_past_the_admin_is_not_on_sale(tree):
    """Fail closed: a fourth level (or a loop) written with update() is hidden, not unchecked."""
    _, _, tiaras, _ = tree
    deep = CategoryFactory(name="Diadems", slug="diadems")
    Category.objects.filter(pk=deep.pk).update(parent=tiaras)
    variant = ProductVariantFactory(product=ProductFactory(category=deep))
    assert not ProductVariant.objects.sellable().filter(pk=variant.pk).exists()
    assert ProductVariant.objects.select_related(SELLABLE_RELATED).get(pk=variant.pk).is_sellable is False
