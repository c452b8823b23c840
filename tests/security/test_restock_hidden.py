"""Issue 21: the back-in-stock form follows the one sellable rule and answers 404 before rendering anything.

It answered a 400 page naming a hidden piece (a mistyped address, or the rate limit's 429) and accepted
sign-ups for pieces in switched-off categories, whose restock e-mail then named them.
"""

import pytest
from django.urls import reverse

from catalog.models import Category, Product, ProductVariant
from mailqueue.models import Mail
from restock.models import RestockSignup
from restock.services import RestockError, restock_signup_create
from tests.factories import CategoryFactory, ProductFactory, ProductVariantFactory

pytestmark = pytest.mark.django_db

NAME = "Secret Prototype Tiara"


@pytest.fixture
def sold_out():
    product = ProductFactory(name=NAME, category=CategoryFactory(name="Archive", slug="archive"))
    return ProductVariantFactory(product=product, stock=0, sku="TIARA-1")


def hide(variant: ProductVariant, how: str) -> None:
    """Switch off one level of what makes the piece sellable, as staff would (save: caches follow)."""
    target = {"variant": variant, "product": variant.product, "category": variant.product.category}[how]
    target.is_active = False
    target.save()


@pytest.mark.parametrize("how", ["variant", "product", "category"])
@pytest.mark.parametrize("email", ["fan@example.com", "not an address"], ids=["valid", "invalid"])
def test_a_hidden_piece_is_a_404_that_names_nothing_and_takes_no_signup(client, sold_out, how, email):
    hide(sold_out, how)

    response = client.post(reverse("restock:signup"), {"variant": sold_out.pk, "email": email})

    assert response.status_code == 404
    body = response.content.decode()
    assert NAME not in body
    assert "Tiara" not in body
    assert not RestockSignup.objects.exists()


def test_the_rate_limit_page_names_no_hidden_piece_either(client, sold_out, settings):
    settings.SHOP_RESTOCK_SIGNUP_RATE = "1/h"
    hide(sold_out, "category")
    for email in ("a@example.com", "b@example.com"):
        response = client.post(reverse("restock:signup"), {"variant": sold_out.pk, "email": email})
        assert response.status_code == 404
        assert NAME not in response.content.decode()


def test_the_service_refuses_a_piece_in_a_switched_off_category(sold_out):
    hide(sold_out, "category")
    with pytest.raises(RestockError, match="no longer available"):
        restock_signup_create(variant_id=sold_out.pk, email="fan@example.com")
    assert not RestockSignup.objects.exists()


def test_a_signup_whose_piece_was_hidden_since_is_not_e_mailed_until_it_is_on_sale_again(
    sold_out, django_capture_on_commit_callbacks
):
    restock_signup_create(variant_id=sold_out.pk, email="fan@example.com")
    hide(sold_out, "category")
    with django_capture_on_commit_callbacks(execute=True):
        sold_out.stock = 2
        sold_out.save()
    assert not Mail.objects.filter(kind="restock").exists()
    assert RestockSignup.objects.get().notified_at is None

    category = Category.objects.get(pk=sold_out.product.category_id)
    category.is_active = True
    category.save()
    with django_capture_on_commit_callbacks(execute=True):
        ProductVariant.objects.filter(pk=sold_out.pk).update(stock=3)  # the next stock change finds it
    (mail,) = Mail.objects.filter(kind="restock")
    assert NAME in mail.subject


def test_a_visible_sold_out_piece_still_takes_signups_and_a_bad_address_is_a_400(client, sold_out):
    """The control: the rule hides only what the shop hides."""
    bad = client.post(reverse("restock:signup"), {"variant": sold_out.pk, "email": "not an address"})
    assert bad.status_code == 400
    good = client.post(reverse("restock:signup"), {"variant": sold_out.pk, "email": "fan@example.com"})
    assert good.status_code == 302
    assert RestockSignup.objects.get().variant == sold_out
    assert Product.objects.filter(pk=sold_out.product_id, is_active=True).exists()


@pytest.mark.parametrize("variant", ["\u00b2", "1\u00b9", "\u2460", "", "-1", "9" * 19, "1.0"])
def test_a_variant_that_is_no_number_of_ours_is_a_404_never_a_500(client, sold_out, variant):
    """str.isdigit() is true for superscripts and circled digits ("²", "①"), which int() refuses."""
    client.raise_request_exception = False
    response = client.post(reverse("restock:signup"), {"variant": variant, "email": "fan@example.com"})
    assert response.status_code == 404
    assert not RestockSignup.objects.exists()
