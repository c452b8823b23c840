"""Issue 21: staff-typed names are one line (shop_text.text_one_line_check), and no stored name fails an e-mail.

A product name with CR/LF was stored and the back-in-stock e-mail's subject then failed ten times
("BadHeaderError") before "failed for good". The rule sits on the model fields, so the admin forms and the
CSV import refuse the same text; subjects are flattened, so a name stored before the rule still sends.
"""

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.urls import reverse

from accounts.services import user_sync_from_oidc
from catalog.models import Category, Collection, Product
from catalog.services.product_import import product_import_csv
from mailqueue.models import Mail, MailStatus
from mailqueue.services import mail_deliver
from restock.services import restock_signup_create
from shop_text import ONE_LINE_MESSAGE, text_one_line, text_one_line_check
from tests.accounts.conftest import oidc_off  # noqa: F401 - the fixture: password accounts
from tests.catalog.test_admin import ADD, add_form_data
from tests.catalog.test_import import HEADER, csv_bytes
from tests.factories import CategoryFactory, ProductVariantFactory, StaffUserFactory

pytestmark = pytest.mark.django_db
User = get_user_model()

BAD_NAMES = {
    "CRLF": "Solstice Ring\r\nBcc: everyone@example.com",
    "LF": "Solstice\nRing",
    "tab": "Solstice\tRing",
    "NUL": "Solstice\x00Ring",
    "DEL": "Solstice\x7fRing",
    "C1 next line": "Solstice\x85Ring",
    "line separator": "Solstice\u2028Ring",
    "right-to-left override": "Solstice \u202egniR",
    "left-to-right embedding": "\u202aSolstice",
    "pop directional": "Solstice\u202c",
    "first strong isolate": "\u2068Solstice\u2069",
    "right-to-left mark": "Solstice\u200f",
}
GOOD_NAMES = ["Solstice Ring", "Tide & Pearl", "Bague Étoile", "خاتم", "Ring, size N½", "Heart ♥ Locket"]

# What the admin shows: the message with its apostrophes escaped as Django's templates escape them.
SHOWN_MESSAGE = "Please keep this to one line of ordinary text"
NUL_MESSAGE = "Null characters are not allowed."


@pytest.mark.parametrize("name", BAD_NAMES.values(), ids=BAD_NAMES.keys())
def test_the_one_line_check_refuses_line_breaks_controls_and_bidi_characters(name):
    with pytest.raises(ValidationError) as raised:
        text_one_line_check(name)
    assert raised.value.messages == [ONE_LINE_MESSAGE]
    assert "\n" not in text_one_line(name)
    assert not any(c in text_one_line(name) for c in "\r\x00\u202e\u2028")


@pytest.mark.parametrize("name", GOOD_NAMES)
def test_the_one_line_check_keeps_ordinary_names_of_any_script(name):
    text_one_line_check(name)
    assert text_one_line(name) == name


@pytest.fixture
def staff_client(client):
    client.force_login(StaffUserFactory())
    return client


@pytest.mark.parametrize("name", BAD_NAMES.values(), ids=BAD_NAMES.keys())
def test_the_product_admin_refuses_a_name_that_is_not_one_line(staff_client, name):
    response = staff_client.post(ADD, add_form_data(CategoryFactory(), name=name))

    assert response.status_code == 200
    # Django's form fields refuse NUL themselves, first, with their own clear words.
    assert (NUL_MESSAGE if "\x00" in name else SHOWN_MESSAGE) in response.content.decode()
    assert not Product.objects.exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [("sku", "SOL\r\nYG"), ("ring_size", "L\u202e")],
)
def test_the_product_admin_refuses_a_variant_sku_or_size_that_is_not_one_line(staff_client, field, value):
    response = staff_client.post(ADD, add_form_data(CategoryFactory(), **{f"variants-0-{field}": value}))

    assert response.status_code == 200
    assert SHOWN_MESSAGE in response.content.decode()
    assert not Product.objects.exists()


@pytest.mark.parametrize(
    ("model", "data"),
    [
        (Category, {"name": "Rings\r\nX-Evil: 1", "slug": "rings", "position": "0", "is_active": "on"}),
        (Category, {"name": "Rings", "slug": "rings", "seo_description": "Fine\nrings", "position": "0"}),
        (Collection, {"name": "Solstice\u202e", "slug": "solstice", "is_active": "on"}),
    ],
    ids=["category name", "category seo description", "collection name"],
)
def test_the_category_and_collection_admins_refuse_names_that_are_not_one_line(staff_client, model, data):
    url = reverse(f"admin:catalog_{model._meta.model_name}_add")
    response = staff_client.post(url, data)

    assert response.status_code == 200
    assert SHOWN_MESSAGE in response.content.decode()
    assert not model.objects.exists()


@pytest.mark.parametrize(
    "row",
    [
        'SOL-YG-L,solstice-ring,"Solstice\r\nRing",rings,yellow-gold,,L,1850.00,3,1,,yes',
        "SOL-YG-L,solstice-ring,Solstice \u202egniR,rings,yellow-gold,,L,1850.00,3,1,,yes",
        "SOL\x00YG,solstice-ring,Solstice Ring,rings,yellow-gold,,L,1850.00,3,1,,yes",
        "SOL-YG-L,solstice-ring,Solstice Ring,rings,yellow-gold,,N\t½,1850.00,3,1,,yes",
    ],
    ids=["CRLF in a quoted name", "bidi override in a name", "NUL in a SKU", "tab in a ring size"],
)
def test_the_csv_import_refuses_what_the_admin_refuses(row):
    CategoryFactory(slug="rings", name="Rings")

    result = product_import_csv(file=csv_bytes(row, header=HEADER))

    assert not result.ok
    assert any(ONE_LINE_MESSAGE in str(error) for error in result.errors), result.errors
    assert not Product.objects.exists()


def test_a_stored_name_with_a_line_break_never_fails_the_back_in_stock_email(
    mailoutbox, django_capture_on_commit_callbacks
):
    """A name stored before the rule (here written past it with update()) still sends, on one line."""
    variant = ProductVariantFactory(stock=0)
    Product.objects.filter(pk=variant.product_id).update(name="Solstice\r\nBcc: all@example.com\u202e Ring")
    restock_signup_create(variant_id=variant.pk, email="fan@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        variant.stock = 1
        variant.save()

    mail = Mail.objects.get(kind="restock")
    assert mail_deliver(mail_id=mail.pk) == "sent"
    mail.refresh_from_db()
    assert mail.status == MailStatus.SENT
    (message,) = mailoutbox
    assert message.subject.endswith("Solstice Bcc: all@example.com Ring is back in stock")
    assert message.bcc == []
    assert "Bcc:" not in str(message.message()).split("\n\n")[0].replace(message.subject, "")


@pytest.mark.usefixtures("oidc_off")
@pytest.mark.parametrize("field", ["first_name", "last_name"])
@pytest.mark.parametrize("name", [BAD_NAMES["right-to-left override"], BAD_NAMES["CRLF"], "Ada\u200b"])
def test_sign_up_refuses_a_shoppers_name_that_is_not_plain_text(client, field, name):
    """Shoppers' names follow the address rules (accounts.text_rules): the issue's right-to-left override
    in a first name was accepted by sign-up and shown as typed in the admin's user list and order pages."""
    data = {"email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace"}
    data |= {field: name, "password1": "a brand-new passphrase 42", "password2": "a brand-new passphrase 42"}
    response = client.post(reverse("accounts:sign-up"), data)
    assert response.status_code == 200
    assert b"no emoji or invisible characters" in response.content
    assert not User.objects.exists()


def test_a_providers_names_lose_control_and_direction_characters():
    user = user_sync_from_oidc(
        claims={"sub": "sub-rtl", "given_name": "Ada\u202e", "family_name": "Love\r\nlace"},
        staff_group="staff",
        groups_claim="cognito:groups",
    )
    assert (user.first_name, user.last_name) == ("Ada", "Love lace")
