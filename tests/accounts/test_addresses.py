"""Saved shipping addresses: owner-only pages, one default per user, and the checkout prefill."""

import pytest
from django.db import IntegrityError
from django.urls import reverse

from accounts import services
from accounts.models import Address
from accounts.selectors import address_checkout_initial
from tests.factories import ProductVariantFactory, UserFactory

pytestmark = pytest.mark.django_db

HOME = {
    "label": "Home",
    "full_name": "Ada Lovelace",
    "phone": "+44 20 7946 0000",
    "address_line1": "12 St James's Square",
    "address_line2": "",
    "city": "London",
    "postcode": "sw1y 4jh",
    "country": "GB",
}


@pytest.fixture
def shopper(client, oidc_off):
    user = UserFactory(first_name="Ada", last_name="Lovelace")
    client.force_login(user)
    return user


def test_the_pages_need_a_signed_in_user(client, oidc_off):
    for name in ("accounts:profile", "accounts:address-list", "accounts:address-create"):
        response = client.get(reverse(name))
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("accounts:login"))


def test_create_an_address_through_the_form(client, shopper):
    form = client.get(reverse("accounts:address-create"))
    assert form.context["form"].initial["full_name"] == "Ada Lovelace"

    response = client.post(reverse("accounts:address-create"), HOME)

    assert response["Location"] == reverse("accounts:address-list")
    address = Address.objects.get(user=shopper)
    assert address.postcode == "SW1Y 4JH"
    assert address.is_default  # the first address becomes the default
    listing = client.get(reverse("accounts:address-list"))
    assert b"12 St James&#x27;s Square" in listing.content


def test_bad_input_re_renders_the_form_with_messages(client, shopper):
    response = client.post(reverse("accounts:address-create"), {**HOME, "city": "", "country": "XX"})
    assert response.status_code == 200
    assert response.context["form"].errors.keys() == {"city", "country"}
    assert not Address.objects.exists()


def test_someone_elses_address_is_a_404(client, shopper):
    other = services.address_create(user=UserFactory(), data=HOME)
    for name in ("accounts:address-update", "accounts:address-delete"):
        assert client.get(reverse(name, args=[other.pk])).status_code == 404
    assert client.post(reverse("accounts:address-delete", args=[other.pk])).status_code == 404
    assert client.post(reverse("accounts:address-make-default", args=[other.pk])).status_code == 404
    assert (
        client.post(reverse("accounts:address-update", args=[other.pk]), {**HOME, "city": "Paris"}).status_code == 404
    )
    other.refresh_from_db()
    assert other.city == "London"


def test_edit_and_make_default(client, shopper):
    first = services.address_create(user=shopper, data=HOME)
    second = services.address_create(user=shopper, data={**HOME, "label": "Studio", "address_line1": "1 Mews"})
    assert not second.is_default

    client.post(reverse("accounts:address-make-default", args=[second.pk]))
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.is_default, second.is_default) == (False, True)

    client.post(reverse("accounts:address-update", args=[first.pk]), {**HOME, "city": "Bath", "make_default": "on"})
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.city, first.is_default, second.is_default) == ("Bath", True, False)


def test_make_default_is_post_only(client, shopper):
    address = services.address_create(user=shopper, data=HOME)
    assert client.get(reverse("accounts:address-make-default", args=[address.pk])).status_code == 405


def test_deleting_the_default_promotes_another(client, shopper):
    first = services.address_create(user=shopper, data=HOME)
    second = services.address_create(user=shopper, data={**HOME, "address_line1": "1 Mews"})
    confirm = client.get(reverse("accounts:address-delete", args=[first.pk]))
    assert b"Remove this address?" in confirm.content

    client.post(reverse("accounts:address-delete", args=[first.pk]))

    assert list(Address.objects.filter(user=shopper)) == [second]
    second.refresh_from_db()
    assert second.is_default


def test_the_database_allows_one_default_per_user():
    user = UserFactory()
    services.address_create(user=user, data=HOME)
    with pytest.raises(IntegrityError):
        Address.objects.create(user=user, **{**HOME, "is_default": True})


def test_checkout_initial_comes_from_the_default_address():
    user = UserFactory()
    assert address_checkout_initial(user=user) == {}
    services.address_create(user=user, data=HOME)
    studio = services.address_create(user=user, data={**HOME, "address_line1": "1 Mews"}, make_default=True)

    initial = address_checkout_initial(user=user)

    assert initial == {
        "full_name": "Ada Lovelace",
        "phone": "+44 20 7946 0000",
        "address_line1": studio.address_line1,
        "address_line2": "",
        "city": "London",
        "postcode": "SW1Y 4JH",
        "country": "GB",
    }


def test_profile_shows_details_default_address_and_order_link(client, shopper):
    services.address_create(user=shopper, data=HOME)
    response = client.get(reverse("accounts:profile"))
    assert response.status_code == 200
    content = response.content.decode()
    assert "Hello, Ada" in content
    assert shopper.email in content
    assert "12 St James&#x27;s Square" in content
    assert f'href="{reverse("orders:order-list")}"' in content
    assert "Open administration" not in content


def test_checkout_is_prefilled_from_the_default_address(client, shopper):
    services.address_create(user=shopper, data=HOME)
    variant = ProductVariantFactory()
    client.post(reverse("cart:add"), {"variant": variant.pk, "quantity": 1})

    response = client.get(reverse("orders:checkout"))

    assert response.status_code == 200
    form = response.context["form"]
    assert form["address_line1"].value() == HOME["address_line1"]
    assert form["postcode"].value() == "SW1Y 4JH"
    assert form["email"].value() == shopper.email


@pytest.mark.parametrize("count", [1, 25])
def test_address_list_queries_do_not_grow(client, shopper, django_assert_max_num_queries, count):
    for n in range(count):
        services.address_create(user=shopper, data={**HOME, "address_line1": f"{n} Mews"})
    with django_assert_max_num_queries(6):
        response = client.get(reverse("accounts:address-list"))
    assert len(response.context["addresses"]) == count


def test_the_address_form_lists_and_links_its_errors(client, shopper):
    response = client.post(reverse("accounts:address-create"), {**HOME, "city": "", "postcode": "!!!"})
    body = response.content.decode()
    assert 'href="#id_city"' in body
    assert 'href="#id_postcode"' in body
    assert "js/form-errors.js" in body
