"""Issue 21: our e-mails must not carry a stranger's words, DKIM-signed as the shop, to any address typed.

The order confirmation carried the typed gift message verbatim (300 characters, links allowed) and the typed
name beside the genuine bank details, to whatever address was typed at checkout. Now an e-mail to an address
nobody confirmed (guest checkout, a password account's unverified address, or another address typed by a
signed-in shopper) leaves the gift message out, and typed names, addresses and engravings lose anything a
mail client would link. Only the provider-verified address of the signed-in shopper's own account gets the
gift message (orders.emails.order_email_confirmed). Both parts are read from the queued row and from the
message the worker function actually sends.
"""

import dataclasses

import pytest

from mailqueue.models import Mail
from mailqueue.services import mail_deliver
from shop_text import LINK_REMOVED, text_without_links
from tests.factories import ProductFactory, ProductVariantFactory, UserFactory
from tests.orders.conftest import ADDRESS, cart_with, place

pytestmark = pytest.mark.django_db

GIFT = "URGENT: our bank details changed, pay to https://pay-here.example/acct instead. Love, the shop"
NAME = "Ada see bank-update.example"
ENGRAVING = "Ada pay.example"
ABSENT_NOTE = "Your gift message will be printed on the card; you can read it on your order page."


@pytest.fixture
def ring():
    return ProductVariantFactory(product=ProductFactory(name="Aurora Ring", is_engravable=True), stock=3)


def placed_mail(ring, *, user=None, email="ada@example.com"):
    """Place a bank-transfer order with the stranger's words and return its queued confirmation."""
    address = dataclasses.replace(ADDRESS, full_name=NAME)
    place(cart_with((ring, 1, ENGRAVING)), user=user, email=email, shipping_address=address, gift_message=GIFT)
    return Mail.objects.get(kind="order_confirmation")


def sent_parts(mail: Mail, mailoutbox) -> tuple[str, str]:
    assert mail_deliver(mail_id=mail.pk) == "sent"
    (message,) = mailoutbox
    (html, mimetype) = message.alternatives[0]
    assert mimetype == "text/html"
    return message.body, html


def verified_account(email: str = "ada@example.com"):
    """A provider account: its e-mail is stored only when the provider verified it."""
    return UserFactory(username="ada", email=email, oidc_sub="cognito-sub-ada")


@pytest.mark.parametrize(
    "who",
    ["guest", "password account", "verified account, another address typed"],
)
def test_an_unconfirmed_address_gets_no_gift_message_and_no_links(ring, mailoutbox, who):
    user = {"guest": None, "password account": UserFactory(email="ada@example.com")}.get(who)
    if who.startswith("verified"):
        user = verified_account(email="ada.real@example.com")
    mail = placed_mail(ring, user=user)

    text, html = sent_parts(mail, mailoutbox)
    for body in (mail.text_body, mail.html_body, text, html):
        assert "URGENT" not in body
        assert "pay-here" not in body
        assert "bank-update.example" not in body
        assert "pay.example" not in body
        assert "Ada see [link removed]" in body
        assert "[link removed]" in body
        assert ABSENT_NOTE in body
    # The genuine payment instructions are still there: the shopper must be able to pay.
    assert "quoting " + mail.reference in text


def test_the_verified_address_of_the_shoppers_own_account_gets_the_gift_message_quoted(ring, mailoutbox):
    """The control: the shopper writing to themselves reads their own words back."""
    mail = placed_mail(ring, user=verified_account(), email="Ada@Example.com")

    text, html = sent_parts(mail, mailoutbox)
    for body in (mail.text_body, text):
        assert f'"{GIFT}"' in body
        assert ABSENT_NOTE not in body
    for body in (mail.html_body, html):
        assert "<blockquote>URGENT" in body
    assert "Ada see [link removed]" in text  # typed names never carry a link, to anyone


@pytest.mark.parametrize(
    "typed",
    [
        "pay at Evil.Com/acct",  # mail clients match domains case-insensitively: Title-case is still a link
        "Bank-Update.Net",
        "evil.Co.Uk",
        "evil\u3002com/pay",  # ideographic and full-width stops: hostnames map them to "."
        "evil\uff0ecom",
        "\u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0444",  # an internationalised domain
    ],
)
def test_no_spelling_of_a_domain_survives_the_link_removal(typed):
    cleaned = text_without_links(typed)
    assert LINK_REMOVED in cleaned
    for part in ("Evil", "evil", "Bank-Update", "\u043f\u0440\u0438\u043c\u0435\u0440"):
        assert part not in cleaned.replace("pay at ", "")
