"""Checkout traps from issue #16, each through the test client: collection, valid payment combinations,
the error summary, the gift message, saved addresses and the reservation wording."""

import re
from decimal import Decimal

import pytest

from accounts import services as account_services
from mailqueue.models import Mail
from orders.checkout_display import reservation_note
from orders.models import Order, PaymentMethod, ShippingMethod
from tests.factories import UserFactory
from tests.orders.conftest import checkout_data
from tests.orders.test_views import CHECKOUT, add

pytestmark = pytest.mark.django_db

BOUTIQUE = ["Maison Test", "1 Arcade Row", "London W1 1AA"]


@pytest.fixture(autouse=True)
def _boutique(settings):
    settings.SHOP_BOUTIQUE_ADDRESS = BOUTIQUE
    settings.SHOP_BOUTIQUE_HOURS = "Tuesday to Saturday, 10:00 to 18:00"
    settings.SHOP_BOUTIQUE_READY = "Ready two working days after payment."


NO_ADDRESS = {"address_line1": "", "address_line2": "", "city": "", "postcode": "", "country": ""}


def test_collection_needs_no_delivery_address_and_shows_the_boutique_everywhere(
    client, ring, django_capture_on_commit_callbacks
):
    """Trap: "Collect from our boutique" demanded a home address and showed it under "Collection"."""
    add(client, ring, 1)
    page = client.get(CHECKOUT).content.decode()
    assert "1 Arcade Row" in page
    assert "Tuesday to Saturday, 10:00 to 18:00" in page
    assert "Ready two working days after payment." in page
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            CHECKOUT,
            checkout_data(client, shipping_method="collect", payment_method="on_collection", **NO_ADDRESS),
        )
    assert response.status_code == 302, response.context["form"].errors if response.context else ""
    order = Order.objects.get()
    assert (order.shipping_method, order.address_line1, order.city, order.postcode) == ("collect", "", "", "")
    assert order.full_name == "Ada Lovelace"
    confirmation = client.get(response["Location"]).content.decode()
    assert "Collect from our boutique" in confirmation
    assert "1 Arcade Row" in confirmation
    assert "Ready two working days after payment." in confirmation
    assert "Delivery to" not in confirmation
    (message,) = Mail.objects.filter(kind="order_confirmation", reference=order.number)
    for text in (message.text_body, message.html_body):
        assert "1 Arcade Row" in text
        assert "Tuesday to Saturday" in text
        assert "Ready two working days" in text


def test_collection_keeps_no_typed_home_address(client, ring):
    add(client, ring, 1)
    response = client.post(CHECKOUT, checkout_data(client, shipping_method="collect"))
    assert response.status_code == 302
    assert Order.objects.get().address_line1 == ""


def test_delivery_still_needs_the_address(client, ring):
    add(client, ring, 1)
    response = client.post(CHECKOUT, checkout_data(client, shipping_method="standard", **NO_ADDRESS))
    assert response.status_code == 400
    assert {"address_line1", "city", "postcode", "country"} <= set(response.context["form"].errors)


@pytest.mark.parametrize("shipping", ["standard", "express"])
def test_pay_on_collection_with_delivery_is_refused_with_a_clear_message(client, ring, shipping):
    """Trap: "Pay on collection" could be chosen with home delivery; the server refuses it plainly."""
    add(client, ring, 1)
    response = client.post(CHECKOUT, checkout_data(client, shipping_method=shipping, payment_method="on_collection"))
    assert response.status_code == 400
    assert response.context["form"].errors["payment_method"] == [
        "Pay on collection is only possible when you collect from the boutique."
    ]
    assert not Order.objects.exists()


def test_the_page_marks_pay_on_collection_as_collection_only(client, ring):
    add(client, ring, 1)
    body = client.get(CHECKOUT).content.decode()
    assert re.search(r'<label class="choice choice--stacked" for="id_payment_method_\d+" data-collection-only>', body)
    assert "only when you collect from our boutique" in body


def test_every_other_payment_method_goes_with_every_delivery():
    """The combination rule in one place: only collection-only methods depend on the delivery."""
    from orders.forms import payment_allowed

    for payment in PaymentMethod.values:
        for shipping in ShippingMethod.values:
            allowed = payment_allowed(payment_method=payment, shipping_method=shipping)
            assert allowed is (payment != PaymentMethod.ON_COLLECTION or shipping == ShippingMethod.COLLECT)


def test_error_summary_lists_and_links_every_invalid_field(client, ring):
    """Trap: the summary said only "Please correct the highlighted fields"."""
    add(client, ring, 1)
    data = checkout_data(
        client, email="nope", full_name="", postcode="!!!", payment_method="on_collection", gift_message="x" * 301
    )
    response = client.post(CHECKOUT, data)
    assert response.status_code == 400
    body = response.content.decode()
    summary = body[body.index('id="error-summary"') : body.index("checkout__layout")]
    for target in ("id_email", "id_full_name", "id_postcode", "id_payment_method_0", "id_gift_message"):
        assert f'href="#{target}"' in summary, target
        assert f'id="{target}"' in body, target  # each link lands on a real element
    assert "Please correct 5 things" in summary
    assert 'tabindex="-1"' in summary
    assert 'aria-invalid="true"' in body
    assert "js/form-errors.js" in body
    assert "<script>" not in body


def test_gift_message_is_counted_and_refused_over_300_not_cut(client, ring):
    """Trap: the textarea's maxlength silently cut a message at 300 characters."""
    add(client, ring, 1)
    page = client.get(CHECKOUT).content.decode()
    textarea = re.search(r"<textarea[^>]*gift_message[^>]*>", page).group(0)
    assert "maxlength" not in textarea
    assert 'data-max-length="300"' in textarea
    assert 'data-count-for="id_gift_message"' in page
    response = client.post(CHECKOUT, checkout_data(client, gift_message="é" * 301))
    assert response.status_code == 400
    assert response.context["form"].errors["gift_message"] == [
        "Your gift message has 301 characters; please shorten it to 300 or fewer."
    ]
    assert response.context["form"]["gift_message"].value() == "é" * 301  # kept, not cut
    # 300 characters with Windows line endings count each line break once.
    message = ("a" * 149) + "\r\n" + ("b" * 150)
    assert client.post(CHECKOUT, checkout_data(client, gift_message=message)).status_code == 302
    assert len(Order.objects.get().gift_message) == 300


ADDRESS = {
    "full_name": "Ada Lovelace",
    "phone": "",
    "address_line2": "",
    "country": "GB",
}


@pytest.fixture
def two_addresses(client, ring):
    user = UserFactory(email="ada@example.com")
    home = account_services.address_create(
        user=user,
        data={**ADDRESS, "label": "Home", "address_line1": "1 Home Street", "city": "London", "postcode": "N1 1AA"},
    )
    studio = account_services.address_create(
        user=user,
        data={**ADDRESS, "label": "Studio", "address_line1": "9 Studio Yard", "city": "Leeds", "postcode": "LS1 1AA"},
    )
    client.force_login(user)
    add(client, ring, 1)
    return user, home, studio


def test_signed_in_shopper_with_several_addresses_picks_one(client, two_addresses):
    """Trap: signed-in shoppers with several saved addresses could not pick one at checkout."""
    _, _home, studio = two_addresses
    page = client.get(CHECKOUT)
    body = page.content.decode()
    assert "Studio: " in body
    assert "Home: " in body
    assert "The address below" in body
    assert page.context["form"]["address_line1"].value() == "1 Home Street"  # the default fills the fields
    # Choosing the studio delivers there, whatever the fields below still say.
    response = client.post(CHECKOUT, checkout_data(client, saved_address=str(studio.pk), address_line1="", city=""))
    assert response.status_code == 302
    order = Order.objects.get()
    assert (order.address_line1, order.city, order.postcode) == ("9 Studio Yard", "Leeds", "LS1 1AA")


def test_the_typed_address_is_used_when_no_saved_one_is_chosen(client, two_addresses):
    response = client.post(CHECKOUT, checkout_data(client, saved_address="", address_line1="5 New Road"))
    assert response.status_code == 302
    assert Order.objects.get().address_line1 == "5 New Road"


def test_someone_elses_saved_address_cannot_be_chosen(client, two_addresses):
    stranger = account_services.address_create(
        user=UserFactory(),
        data={**ADDRESS, "address_line1": "Secret 1", "city": "York", "postcode": "YO1 1AA"},
    )
    response = client.post(CHECKOUT, checkout_data(client, saved_address=str(stranger.pk)))
    assert response.status_code == 400
    assert "saved_address" in response.context["form"].errors
    assert "Secret 1" not in response.content.decode()


def test_one_saved_address_needs_no_choice(client, ring):
    user = UserFactory()
    account_services.address_create(
        user=user, data={**ADDRESS, "address_line1": "1 Only Way", "city": "Bath", "postcode": "BA1 1AA"}
    )
    client.force_login(user)
    add(client, ring, 1)
    page = client.get(CHECKOUT)
    assert "The address below" not in page.content.decode()
    assert page.context["form"]["address_line1"].value() == "1 Only Way"


def test_reserved_wording_says_for_how_long_when_deadlines_are_configured(client, ring, settings):
    """Trap: "Your pieces are reserved for you" said not until when."""
    settings.SHOP_BANK_TRANSFER_DAYS = 5
    settings.SHOP_COLLECTION_DAYS = 14
    add(client, ring, 1)
    body = client.get(CHECKOUT).content.decode()
    assert "reserved for 5 days after you place your order" in body
    assert "reserved for 14 days after you place your order" in body


def test_reserved_wording_claims_no_time_without_deadline_settings(settings):
    for name in ("SHOP_BANK_TRANSFER_DAYS", "SHOP_COLLECTION_DAYS", "SHOP_CARD_PAYMENT_MINUTES"):
        if hasattr(settings, name):
            delattr(settings, name)
    note = reservation_note(payment_method=PaymentMethod.BANK_TRANSFER)
    assert note == "Your pieces are reserved for you from the moment you place your order."


def test_checkout_totals_for_each_delivery_are_formatted_by_the_server(client, ring):
    add(client, ring, 1)
    body = client.get(CHECKOUT).content.decode()
    assert 'data-total-label="£125"' in body
    assert 'data-total-label="£145"' in body
    assert 'data-total-label="£120"' in body  # collection is free
    assert Decimal("120.00") == ring.price
