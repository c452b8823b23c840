"""The payment page, the confirmation's truth, and abuse: rate limits, unpaid-order caps, foreign orders, CSP."""

import json
import subprocess
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from orders.models import Order, OrderStatus
from tests.deploy.conftest import PROD_HOST, REPO, prod_env, strong_secret_key
from tests.e2e.conftest import PYTHON
from tests.factories import ProductVariantFactory
from tests.orders.test_views import add, checkout_data
from tests.payments.helpers import card_setup, intent_event, post_event


@pytest.fixture
def shopper(client, db):
    """A client with a piece in its bag."""
    add(client, ProductVariantFactory(stock=5))
    return client


def place_card_order(client) -> Order:
    response = client.post(reverse("orders:checkout"), checkout_data(client, payment_method="card"))
    order = Order.objects.latest("created_at")
    assert response.status_code == 302
    assert response["Location"] == reverse("payments:pay", kwargs={"number": order.number})
    return order


@pytest.mark.django_db
def test_card_is_offered_only_when_configured(client, settings):
    add(client, ProductVariantFactory())
    settings.STRIPE_ENABLED = False
    choices = [
        value for value, _ in client.get(reverse("orders:checkout")).context["form"]["payment_method"].field.choices
    ]
    assert "card" not in choices
    refused = client.post(reverse("orders:checkout"), checkout_data(client, payment_method="card"))
    assert refused.status_code == 400
    assert not Order.objects.exists()
    settings.STRIPE_ENABLED = True
    choices = [
        value for value, _ in client.get(reverse("orders:checkout")).context["form"]["payment_method"].field.choices
    ]
    assert "card" in choices


def test_payment_page_shows_the_deadline_and_allows_exactly_stripes_script(shopper, stripe_settings):
    order = place_card_order(shopper)
    page = shopper.get(reverse("payments:pay", kwargs={"number": order.number}))
    assert page.status_code == 200
    html = page.content.decode()
    local = order.payment_deadline.astimezone(ZoneInfo("Europe/London"))
    assert "reserved until <strong><time datetime=" in html
    assert f">{local:%H:%M}</time>" in html
    assert f'<script src="{stripe_settings.js_url}"></script>' in html
    assert 'data-setup-secret="seti_' in html
    csp = page["Content-Security-Policy"]
    directives = {part.split()[0]: part.split()[1:] for part in csp.split("; ")}
    assert stripe_settings.url in directives["script-src"]
    assert stripe_settings.url in directives["connect-src"]
    assert stripe_settings.url in directives["frame-src"]
    assert "'unsafe-inline'" not in csp
    # Other pages do not carry Stripe's origins.
    assert stripe_settings.url not in shopper.get(reverse("catalog:home"))["Content-Security-Policy"]


def test_payment_pages_are_the_placing_sessions_only(shopper, stripe_settings):
    from django.test import Client

    order = place_card_order(shopper)
    stranger = Client()
    assert stranger.get(reverse("payments:pay", kwargs={"number": order.number})).status_code == 404
    charge = reverse("payments:charge", kwargs={"number": order.number})
    assert stranger.post(charge, "{}", content_type="application/json").status_code == 404


def test_charge_refuses_garbage_and_a_closed_order(shopper, stripe_settings):
    order = place_card_order(shopper)
    url = reverse("payments:charge", kwargs={"number": order.number})
    for body in (b"not json", b"[]", json.dumps({"payment_method": "tok_visa"}).encode(), b"{}"):
        response = shopper.post(url, body, content_type="application/json")
        assert response.status_code == 400, body
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.CANCELLED)
    response = shopper.post(url, json.dumps({"payment_method": "pm_x"}), content_type="application/json")
    assert response.status_code == 409
    assert shopper.get(reverse("payments:pay", kwargs={"number": order.number})).status_code == 302


def test_confirmation_says_confirming_until_the_webhook_then_payment_received(
    shopper, stripe_settings, django_capture_on_commit_callbacks
):
    order = place_card_order(shopper)
    confirmation = reverse("orders:confirmation", kwargs={"number": order.number})
    assert "Not paid yet." in shopper.get(confirmation).content.decode()
    page = shopper.get(reverse("payments:pay", kwargs={"number": order.number}))
    secret = page.context["setup_secret"]
    pm = card_setup(stripe_settings, setup_secret=secret)
    url = reverse("payments:charge", kwargs={"number": order.number})
    charged = shopper.post(url, json.dumps({"payment_method": pm}), content_type="application/json")
    assert charged.json()["status"] == "succeeded"
    before = shopper.get(confirmation).content.decode()
    assert "We are confirming your payment." in before
    assert "Payment received" not in before
    intent = order.payments.get()
    event = {"id": intent.intent_id, "amount": int(order.total * 100), "currency": "gbp", "status": "succeeded"}
    with django_capture_on_commit_callbacks(execute=True):
        post_event(intent_event(event))
    after = shopper.get(confirmation).content.decode()
    assert "Payment received." in after
    assert "We are confirming" not in after


def test_declined_card_answers_402_with_a_fresh_setup(shopper, stripe_settings):
    order = place_card_order(shopper)
    secret = shopper.get(reverse("payments:pay", kwargs={"number": order.number})).context["setup_secret"]
    pm = card_setup(stripe_settings, setup_secret=secret, number="4000000000000341")
    url = reverse("payments:charge", kwargs={"number": order.number})
    declined = shopper.post(url, json.dumps({"payment_method": pm}), content_type="application/json")
    assert declined.status_code == 402
    assert "declined" in declined.json()["message"]
    assert declined.json()["setup_secret"].startswith("seti_")
    assert declined.json()["setup_secret"] != secret


def test_webhook_and_pages_are_404_when_card_payments_are_off(shopper, stripe_settings, settings):
    order = place_card_order(shopper)
    pay = reverse("payments:pay", kwargs={"number": order.number})
    charge = reverse("payments:charge", kwargs={"number": order.number})
    assert shopper.get(pay).status_code == 200  # control: the same page while card payments are on

    settings.STRIPE_ENABLED = False
    assert shopper.get(pay).status_code == 404
    assert (
        shopper.post(charge, json.dumps({"payment_method": "pm_x"}), content_type="application/json").status_code == 404
    )
    assert shopper.post(reverse("payments:stripe-webhook"), b"{}", content_type="application/json").status_code == 404


# --- Rate limits and caps ------------------------------------------------------------------------


def test_unpaid_orders_are_capped_per_account_and_per_session(client, db, settings):
    """Per signed-in account, not per typed e-mail (issue 20: a stranger could type a customer's address
    and lock them out; tests/orders/test_holds.py has that attack)."""
    from django.test import Client

    from tests.factories import UserFactory

    settings.SHOP_MAX_UNPAID_ORDERS = 2
    variant = ProductVariantFactory(stock=10)
    user = UserFactory(email="ada@example.com")
    client.force_login(user)
    for _ in range(2):
        add(client, variant)
        assert client.post(reverse("orders:checkout"), checkout_data(client)).status_code == 302
    other = Client()  # another session of the same account
    other.force_login(user)
    add(other, variant)
    refused = other.post(reverse("orders:checkout"), checkout_data(other), follow=True)
    assert "You already have 2 orders waiting for payment" in refused.content.decode()
    assert Order.objects.count() == 2
    # and per session, whatever address is typed
    guest = Client()
    for n in range(2):
        add(guest, variant)
        assert (
            guest.post(reverse("orders:checkout"), checkout_data(guest, email=f"g{n}@example.com")).status_code == 302
        )
    add(guest, variant)
    refused = guest.post(reverse("orders:checkout"), checkout_data(guest, email="new@example.com"), follow=True)
    assert "You already have 2 orders waiting for payment" in refused.content.decode()
    assert Order.objects.count() == 4


@pytest.mark.parametrize(
    ("setting", "vary"),
    [
        ("SHOP_ORDER_RATE_PER_EMAIL", "session"),  # new session each time, same e-mail
        ("SHOP_ORDER_RATE_PER_SESSION", "email"),  # same session, new e-mail each time
        ("SHOP_ORDER_RATE_PER_IP", "both"),  # new session and e-mail each time, same address
    ],
)
def test_order_placement_is_rate_limited_with_a_friendly_429(db, settings, setting, vary):
    from django.test import Client

    settings.SHOP_MAX_UNPAID_ORDERS = 100
    settings.SHOP_ORDER_RATE_PER_IP = "50/h"
    settings.SHOP_ORDER_RATE_PER_SESSION = "50/h"
    settings.SHOP_ORDER_RATE_PER_EMAIL = "50/h"
    setattr(settings, setting, "3/h")
    variant = ProductVariantFactory(stock=50)
    client = Client()
    statuses = []
    for attempt in range(4):
        if vary in ("session", "both"):
            client = Client()
        add(client, variant)
        email = f"shopper{attempt}@example.com" if vary in ("email", "both") else "same@example.com"
        response = client.post(reverse("orders:checkout"), checkout_data(client, email=email))
        statuses.append(response.status_code)
    assert statuses == [302, 302, 302, 429]
    assert response["Retry-After"]
    assert "Too many orders in a short time" in response.content.decode()
    assert Order.objects.count() == 3


def test_a_forged_forwarded_for_does_not_escape_the_address_limit(db, settings):
    from django.test import Client

    settings.SHOP_TRUSTED_PROXY_HOPS = 1  # behind nginx: only the hop nginx appended counts
    settings.SHOP_ORDER_RATE_PER_IP = "2/h"
    variant = ProductVariantFactory(stock=50)
    statuses = []
    for attempt in range(3):
        client = Client(HTTP_X_FORWARDED_FOR=f"10.0.0.{attempt}, 203.0.113.9")
        add(client, variant)
        response = client.post(reverse("orders:checkout"), checkout_data(client, email=f"s{attempt}@example.com"))
        statuses.append(response.status_code)
    assert statuses == [302, 302, 429]


# --- Production configuration ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "missing", ["DJANGO_STRIPE_SECRET_KEY", "DJANGO_STRIPE_PUBLISHABLE_KEY", "DJANGO_STRIPE_WEBHOOK_SECRET"]
)
def test_production_refuses_to_start_with_card_payments_on_and_a_key_missing(missing):
    keys = {
        "DJANGO_STRIPE_SECRET_KEY": "sk_live_do_not_print_me",
        "DJANGO_STRIPE_PUBLISHABLE_KEY": "pk_live_x",
        "DJANGO_STRIPE_WEBHOOK_SECRET": "whsec_do_not_print_me",
    }
    del keys[missing]
    env = prod_env(
        database_url="postgres://nobody@127.0.0.1:1/none",
        DJANGO_SECRET_KEY=strong_secret_key(),
        DJANGO_ALLOWED_HOSTS=PROD_HOST,
        DJANGO_STRIPE_ENABLED="1",
        **keys,
    )
    done = subprocess.run(
        [PYTHON, "manage.py", "check"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode != 0
    assert f"start-up stopped: set {missing}" in done.stderr
    assert "do_not_print_me" not in done.stdout + done.stderr
    env.pop("DJANGO_STRIPE_ENABLED")
    for name in keys:
        env.pop(name)
    off = subprocess.run([PYTHON, "manage.py", "check"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert off.returncode == 0, off.stderr  # card payments off: no Stripe key needed


@pytest.mark.django_db(transaction=True)
def test_twenty_shoppers_pay_by_card_for_the_last_unit_one_order_one_payment_intent(stripe_settings):
    from django.test import Client

    from payments.models import Payment
    from tests.orders.test_concurrency import run_together

    last = ProductVariantFactory(stock=1)
    shoppers = []
    for _ in range(20):
        client = Client()
        add(client, last)
        shoppers.append((client, checkout_data(client, payment_method="card")))
    responses = run_together([lambda c=c, d=d: c.post(reverse("orders:checkout"), d) for c, d in shoppers])
    to_pay = [(c, r) for (c, _), r in zip(shoppers, responses, strict=True) if "/checkout/pay/" in r["Location"]]
    assert len(to_pay) == 1
    assert all(r.status_code == 302 for r in responses)
    (winner, response), order = to_pay[0], Order.objects.get()
    secret = winner.get(response["Location"]).context["setup_secret"]
    pm = card_setup(stripe_settings, setup_secret=secret)
    charge = reverse("payments:charge", kwargs={"number": order.number})
    assert winner.post(charge, json.dumps({"payment_method": pm}), content_type="application/json").status_code == 200
    assert Payment.objects.filter(order=order).count() == 1
    assert Payment.objects.count() == 1


def test_card_attempts_are_rate_limited_per_address(shopper, stripe_settings, settings):
    settings.SHOP_CARD_ATTEMPTS_PER_IP = "3/h"
    order = place_card_order(shopper)
    url = reverse("payments:charge", kwargs={"number": order.number})
    statuses = [
        shopper.post(url, json.dumps({"payment_method": "pm_unknown"}), content_type="application/json").status_code
        for _ in range(4)
    ]
    assert statuses[-1] == 429
    assert 429 not in statuses[:3]
