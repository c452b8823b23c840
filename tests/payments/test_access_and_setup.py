"""Who may pay (one selector, orders.access, with the guest grant) and the payment page as a card-testing
channel: one SetupIntent per order, reused on reload, and no new one once the address is rate-limited."""

import json
from urllib.parse import urlsplit

import pytest
import requests
from django.test import Client
from django.urls import reverse

from orders.guest_links import order_guest_links_revoke, order_guest_url
from orders.models import Order, OrderStatus
from payments import gateway
from payments.models import CardSetup
from tests.payments.fixtures import SECRET_KEY
from tests.payments.helpers import card_setup, intent_event, post_event
from tests.payments.test_pages_and_abuse import place_card_order, shopper  # noqa: F401 (fixture)

DECLINED_AT_CHARGE = "4000000000000341"


def setup_intents_at_stripe(localstripe, number: str) -> int:
    """How many SetupIntents localstripe holds for this order (all pages of its list)."""
    found, after = 0, None
    for _ in range(50):
        params = {"limit": 100, **({"starting_after": after} if after else {})}
        page = requests.get(
            f"{localstripe.url}/v1/setup_intents", params=params, auth=(SECRET_KEY, ""), timeout=10
        ).json()
        found += sum(1 for seti in page["data"] if seti["metadata"].get("order_number") == number)
        if not page.get("has_more") or not page["data"]:
            return found
        after = page["data"][-1]["id"]
    raise AssertionError("too many SetupIntents to count")


def guest_browser(order: Order) -> Client:
    """Another browser (the shopper's phone) opening the confirmation e-mail's link."""
    guest = Client()
    link = urlsplit(order_guest_url(order=order))
    opened = guest.get(f"{link.path}?{link.query}")
    assert opened.status_code == 302
    return guest


def test_a_guest_back_through_the_email_link_opens_the_payment_page_and_pays(
    shopper,  # noqa: F811 (the fixture)
    stripe_settings,
    django_capture_on_commit_callbacks,
):
    order = place_card_order(shopper)
    guest = guest_browser(order)
    pay = guest.get(reverse("payments:pay", kwargs={"number": order.number}))
    assert pay.status_code == 200
    pm = card_setup(stripe_settings, setup_secret=pay.context["setup_secret"])
    charge = reverse("payments:charge", kwargs={"number": order.number})
    answer = guest.post(charge, json.dumps({"payment_method": pm}), content_type="application/json")
    assert answer.json()["status"] == "succeeded"
    intent = order.payments.get()
    event = {"id": intent.intent_id, "amount": int(order.total * 100), "currency": "gbp", "status": "succeeded"}
    with django_capture_on_commit_callbacks(execute=True):
        assert post_event(intent_event(event)).json()["outcome"] == "paid"
    assert Order.objects.get(pk=order.pk).status == OrderStatus.PAID
    confirmation = guest.get(reverse("orders:confirmation", kwargs={"number": order.number}))
    assert "Payment received." in confirmation.content.decode()


def test_revoked_guest_links_close_the_payment_page_too(shopper, stripe_settings):  # noqa: F811
    order = place_card_order(shopper)
    guest = guest_browser(order)
    order_guest_links_revoke(order=order, actor=None)
    assert guest.get(reverse("payments:pay", kwargs={"number": order.number})).status_code == 404
    charge = reverse("payments:charge", kwargs={"number": order.number})
    assert guest.post(charge, "{}", content_type="application/json").status_code == 404


def test_payments_views_use_the_orders_selector_only():
    from pathlib import Path

    source = (Path(__file__).resolve().parents[2] / "payments" / "views.py").read_text()
    assert "order_for_viewer" in source
    assert "SESSION_PLACED" not in source
    assert "orders.views" not in source


def test_twenty_five_reloads_make_one_setup_intent(
    shopper,  # noqa: F811
    stripe_settings,
    django_assert_max_num_queries,
):
    order = place_card_order(shopper)
    url = reverse("payments:pay", kwargs={"number": order.number})
    secrets = set()
    for _ in range(24):
        secrets.add(shopper.get(url).context["setup_secret"])
    with django_assert_max_num_queries(8):  # session, order, its SetupIntent; nothing per reload grows
        secrets.add(shopper.get(url).context["setup_secret"])
    assert len(secrets) == 1
    assert setup_intents_at_stripe(stripe_settings, order.number) == 1


def test_after_the_charge_limit_the_page_checks_no_more_cards(shopper, stripe_settings, settings):  # noqa: F811
    settings.SHOP_CARD_ATTEMPTS_PER_IP = "3/h"
    order = place_card_order(shopper)
    pay = reverse("payments:pay", kwargs={"number": order.number})
    charge = reverse("payments:charge", kwargs={"number": order.number})
    statuses = []
    for _ in range(4):  # a card tester: each stolen number set up at Stripe, then charged
        page = shopper.get(pay)
        assert page.status_code == 200
        pm = card_setup(stripe_settings, setup_secret=page.context["setup_secret"], number=DECLINED_AT_CHARGE)
        answer = shopper.post(charge, json.dumps({"payment_method": pm}), content_type="application/json")
        statuses.append(answer.status_code)
    assert statuses[-1] == 429
    made = setup_intents_at_stripe(stripe_settings, order.number)
    for _ in range(10):
        assert shopper.get(pay).status_code == 429
    assert setup_intents_at_stripe(stripe_settings, order.number) == made


def test_after_the_charge_limit_the_secret_already_handed_out_can_check_no_card(shopper, stripe_settings, settings):  # noqa: F811
    """Stripe refuses to confirm a canceled SetupIntent; localstripe does not check that, so this test asserts
    the SetupIntent behind the page's unused secret is canceled at Stripe once the limit tripped."""
    settings.SHOP_CARD_ATTEMPTS_PER_IP = "2/h"
    order = place_card_order(shopper)
    charge = reverse("payments:charge", kwargs={"number": order.number})
    secret = shopper.get(reverse("payments:pay", kwargs={"number": order.number})).context["setup_secret"]
    seti = secret.split("_secret_")[0]
    assert gateway.setup_intent_status(setup_intent_id=seti) == "requires_payment_method"
    statuses = [
        shopper.post(charge, json.dumps({"payment_method": "pm_tried"}), content_type="application/json").status_code
        for _ in range(3)
    ]
    assert statuses[-1] == 429
    # The secret in the tester's page could still check any number of cards at Stripe, out of our sight.
    assert gateway.setup_intent_status(setup_intent_id=seti) == "canceled"
    assert not CardSetup.objects.filter(order=order).exists()


def test_the_payment_page_itself_is_rate_limited_per_address(shopper, stripe_settings, settings):  # noqa: F811
    settings.SHOP_PAY_PAGE_PER_IP = "5/h"
    order = place_card_order(shopper)
    url = reverse("payments:pay", kwargs={"number": order.number})
    statuses = [shopper.get(url).status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]
    assert Client().get(url).status_code == 429  # another session from the same address meets the same limit


@pytest.mark.django_db
def test_a_used_setup_intent_is_replaced(shopper, stripe_settings):  # noqa: F811
    order = place_card_order(shopper)
    url = reverse("payments:pay", kwargs={"number": order.number})
    first = shopper.get(url).context["setup_secret"]
    card_setup(stripe_settings, setup_secret=first)  # confirmed in the browser, then the tab was closed
    second = shopper.get(url).context["setup_secret"]
    assert second != first
    assert shopper.get(url).context["setup_secret"] == second
    assert setup_intents_at_stripe(stripe_settings, order.number) == 2
