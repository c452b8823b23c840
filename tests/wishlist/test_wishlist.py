"""Wishlists: add/remove from the product page, owner-only, sign-in for anonymous shoppers with the
way back to the product, live price and availability, and a constant number of queries."""

from decimal import Decimal

import pytest
from django.urls import reverse

from tests.factories import ProductFactory, ProductVariantFactory, UserFactory
from wishlist.models import WishlistItem

pytestmark = pytest.mark.django_db


@pytest.fixture
def shopper():
    return UserFactory()


@pytest.fixture
def piece():
    return ProductVariantFactory(price=Decimal("420.00"), stock=2).product


def test_add_and_remove_from_the_product_page(client, shopper, piece):
    client.force_login(shopper)
    page = client.get(piece.get_absolute_url()).content.decode()
    assert f'action="{reverse("wishlist:add", args=[piece.pk])}"' in page
    response = client.post(reverse("wishlist:add", args=[piece.pk]))
    assert response.status_code == 302
    assert response["Location"] == piece.get_absolute_url()
    client.post(reverse("wishlist:add", args=[piece.pk]))  # a double click keeps one entry
    assert WishlistItem.objects.filter(user=shopper).count() == 1
    page = client.get(piece.get_absolute_url()).content.decode()
    assert f'action="{reverse("wishlist:remove", args=[piece.pk])}"' in page
    response = client.post(reverse("wishlist:remove", args=[piece.pk]), {"next": "product"})
    assert response["Location"] == piece.get_absolute_url()
    assert not WishlistItem.objects.exists()


def test_anonymous_shopper_is_asked_to_sign_in_and_comes_back_to_the_product(client, piece):
    login = reverse("accounts:login")
    page = client.get(piece.get_absolute_url()).content.decode()
    assert f'href="{login}?next={piece.get_absolute_url()}"' in page.replace("%2F", "/")
    response = client.post(reverse("wishlist:add", args=[piece.pk]))  # a stale form after signing out
    assert response.status_code == 302
    assert response["Location"] == f"{login}?next={piece.get_absolute_url().replace('/', '%2F')}"
    assert client.get(reverse("wishlist:detail"))["Location"].startswith(login)
    assert not WishlistItem.objects.exists()


def test_sign_in_returns_to_the_product(client, piece):
    UserFactory(username="returning")
    response = client.post(
        reverse("accounts:login") + f"?next={piece.get_absolute_url()}",
        {"username": "returning", "password": "correct horse battery staple", "next": piece.get_absolute_url()},
    )
    assert response.status_code == 302
    assert response["Location"] == piece.get_absolute_url()


def test_owner_only(client, shopper, piece):
    other = UserFactory()
    WishlistItem.objects.create(user=other, product=piece)
    client.force_login(shopper)
    assert piece.name not in client.get(reverse("wishlist:detail")).content.decode()
    client.post(reverse("wishlist:remove", args=[piece.pk]))  # removes only the shopper's own (none)
    assert WishlistItem.objects.filter(user=other).count() == 1


def test_wishlist_shows_live_price_and_availability(client, shopper, piece):
    WishlistItem.objects.create(user=shopper, product=piece)
    gone = ProductVariantFactory(stock=1).product
    WishlistItem.objects.create(user=shopper, product=gone)
    client.force_login(shopper)
    html = client.get(reverse("wishlist:detail")).content.decode()
    assert "420" in html
    assert "In stock" in html
    variant = piece.variants.get()
    variant.price = Decimal("395.00")
    variant.stock = 0
    variant.save()
    gone.is_active = False
    gone.save()
    html = client.get(reverse("wishlist:detail")).content.decode()
    assert "395" in html
    assert "420" not in html
    assert "Sold out" in html
    assert "No longer available" in html


@pytest.mark.parametrize("method", ["get"])
def test_add_and_remove_are_post_only_with_csrf(shopper, piece, method):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(shopper)
    assert client.get(reverse("wishlist:add", args=[piece.pk])).status_code == 405
    assert client.post(reverse("wishlist:add", args=[piece.pk])).status_code == 403
    assert not WishlistItem.objects.exists()


def test_unknown_or_hidden_product_is_404(client, shopper):
    hidden = ProductFactory(is_active=False)
    client.force_login(shopper)
    assert client.post(reverse("wishlist:add", args=[999999])).status_code == 404
    assert client.post(reverse("wishlist:add", args=[hidden.pk])).status_code == 404


@pytest.mark.parametrize("count", [1, 30])
def test_wishlist_page_query_count_does_not_grow(client, shopper, count, django_assert_max_num_queries):
    for i in range(count):
        WishlistItem.objects.create(user=shopper, product=ProductVariantFactory(stock=i % 2).product)
    client.force_login(shopper)
    # session + user, the header's categories, the items, the listed products, their images
    with django_assert_max_num_queries(7):
        response = client.get(reverse("wishlist:detail"))
    assert response.status_code == 200
    assert response.content.decode().count('class="product-card"') == count
