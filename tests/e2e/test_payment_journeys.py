"""End to end in Chromium: card payments through localstripe's Elements script, its signed webhooks reaching
the shop under gunicorn, reservation expiry and a staff refund in the admin (issue #11).

localstripe's card "element" is plain inputs in the page (no Stripe iframe) and its 3-D Secure step a
confirm/fail prompt: the journeys drive those, so Stripe's real iframe and bank pages are not covered.
"""

import os
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import PYTHON, REPO, _answers, _database_url, _server_env, browser_gunicorn
from tests.servers import free_port, stop, wait_until

pytestmark = pytest.mark.e2e

STAFF_PASSWORD = "refund-desk-correct-horse"
SHOTS = Path(os.environ.get("PAYMENT_SCREENSHOTS", "/tmp"))


@dataclass
class CardShop:
    origin: str
    database_url: str
    env: dict

    def sql(self, query: str, *params):
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            rows = conn.execute(query, params)
            return rows.fetchall() if rows.description else None

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [PYTHON, "manage.py", *args], cwd=REPO, env=self.env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        return done.stdout

    def variants(self, slug: str) -> list[int]:
        rows = self.sql(
            "SELECT v.id FROM catalog_productvariant v JOIN catalog_product p ON p.id = v.product_id "
            "WHERE p.slug = %s ORDER BY v.id",
            slug,
        )
        return [row[0] for row in rows]

    def order_status(self, number: str) -> str:
        return self.sql("SELECT status FROM orders_order WHERE number = %s", number)[0][0]


@pytest.fixture(scope="module")
def card_shop(localstripe, tmp_path_factory):
    """The shop with card payments on, against localstripe, in a database of its own; webhooks registered."""
    name = f"jewelry_pay_e2e_{os.getpid()}"
    admin_url = os.environ["DJANGO_DATABASE_URL"]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    env = _server_env(
        database_url=_database_url(name),
        media_root=tmp_path_factory.mktemp("pay-media"),
        extra={
            **localstripe.env(),
            "DJANGO_SETTINGS_MODULE": "tests.payments.e2e_settings",
            "DJANGO_SHOP_SITE_URL": origin,
        },
    )
    shop = CardShop(origin=origin, database_url=_database_url(name), env=env)
    process = None
    try:
        shop.manage("migrate", "--noinput")
        shop.manage("createcachetable")
        shop.manage("load_demo_catalog", "--limit", "2", "--image-size", "64")
        shop.manage(
            "shell",
            "-c",
            "from accounts.models import User; "
            f"User.objects.create_superuser('refunds', 'refunds@example.com', '{STAFF_PASSWORD}')",
        )
        process = subprocess.Popen(
            browser_gunicorn(f"127.0.0.1:{port}"),
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(_answers(origin), timeout=60, what="gunicorn (card shop)", process=process)
        localstripe.register_webhook(name="e2e-card-shop", url=f"{origin}/payments/stripe/webhook/")
        yield shop
    finally:
        if process is not None:
            stop(process)
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def product_slugs(shop: CardShop) -> list[str]:
    return [row[0] for row in shop.sql("SELECT slug FROM catalog_product ORDER BY id")]


def buy_by_card(page: Page, shop: CardShop, slug: str, email: str) -> str:
    """Put the piece in the bag and place a card order as a guest; we land on the payment page. Returns the number."""
    in_stock = shop.sql(
        "SELECT v.id FROM catalog_productvariant v JOIN catalog_product p ON p.id = v.product_id "
        "WHERE p.slug = %s AND v.stock > 0 ORDER BY v.id LIMIT 1",
        slug,
    )[0][0]
    page.goto(f"{shop.origin}/product/{slug}/?variant={in_stock}")  # metal and size chosen, as a shared link does
    page.get_by_role("button", name="Add to bag").click()
    page.goto(f"{shop.origin}/checkout/")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Full name").fill("Ada Lovelace")
    page.get_by_label("Address", exact=True).fill("12 St James's Square")
    page.get_by_label("City").fill("London")
    page.get_by_label("Postcode").fill("SW1Y 4JH")
    page.get_by_label("Card").check()
    page.get_by_role("button", name=re.compile("Place order")).click()
    expect(page).to_have_url(re.compile(r"/checkout/pay/[^/]+/$"))
    expect(page.get_by_role("button", name=re.compile(r"^Pay £"))).to_be_enabled()
    return page.url.rstrip("/").rsplit("/", 1)[-1]


def enter_card(page: Page, number: str) -> None:
    """localstripe's card element: five plain inputs (Stripe's real one is an iframe)."""
    card = page.locator("#card-element")
    card.get_by_placeholder("number").fill(number)
    card.get_by_placeholder("exp_month").fill("12")
    card.get_by_placeholder("exp_year").fill("34")
    card.get_by_placeholder("cvc").fill("123")
    card.get_by_placeholder("postal_code").fill("SW1Y4")
    page.get_by_role("button", name=re.compile(r"^Pay £")).click()


def wait_for_payment_received(page: Page, *, timeout: float = 30) -> None:
    """Reload the confirmation (as the page asks the shopper to) until localstripe's webhook has landed."""
    deadline = time.monotonic() + timeout
    status = page.locator("[data-payment-status]")
    while status.get_attribute("data-payment-status") != "received":
        assert time.monotonic() < deadline, "the webhook never marked the order paid"
        page.wait_for_timeout(500)
        page.reload()


def sell_stock(shop: CardShop, slug: str, stock: int, one_left: int | None = None) -> list[int]:
    """Set every variant's stock (and one variant's to 1), then bump the catalogue version as admin edits do."""
    variants = shop.variants(slug)
    shop.sql("UPDATE catalog_productvariant SET stock = %s WHERE id = ANY(%s)", stock, variants)
    if one_left is not None:
        shop.sql("UPDATE catalog_productvariant SET stock = 1 WHERE id = %s", one_left)
    shop.manage("shell", "-c", "from catalog.cache import catalog_cache_versions_bump; catalog_cache_versions_bump()")
    return variants


def test_guest_pays_by_card_and_sees_the_order_paid(page: Page, card_shop):
    slug = product_slugs(card_shop)[0]
    sell_stock(card_shop, slug, 5)
    number = buy_by_card(page, card_shop, slug, "guest.card@example.com")
    expect(page.locator("main")).to_contain_text("reserved until")
    page.screenshot(path=str(SHOTS / "payments-pay-1280.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(SHOTS / "payments-pay-390.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})
    enter_card(page, "4242424242424242")
    expect(page).to_have_url(re.compile(rf"/checkout/confirmation/{number}/$"))
    status = page.locator("[data-payment-status]")
    if status.get_attribute("data-payment-status") == "pending":
        expect(status).to_contain_text("We are confirming your payment")
        page.screenshot(path=str(SHOTS / "payments-confirmation-before.png"), full_page=True)
    wait_for_payment_received(page)
    expect(status).to_contain_text("Payment received")
    page.screenshot(path=str(SHOTS / "payments-confirmation-after.png"), full_page=True)
    assert card_shop.order_status(number) == "paid"


def test_a_declined_card_then_a_good_one(page: Page, card_shop):
    slug = product_slugs(card_shop)[0]
    sell_stock(card_shop, slug, 5)
    number = buy_by_card(page, card_shop, slug, "declined.first@example.com")
    enter_card(page, "4000000000000341")
    alert = page.locator("#payment-message")
    expect(alert).to_contain_text("declined")
    expect(page).to_have_url(re.compile(rf"/checkout/pay/{number}/$"))
    page.screenshot(path=str(SHOTS / "payments-declined.png"), full_page=True)
    assert card_shop.order_status(number) == "awaiting_payment"
    enter_card(page, "4242424242424242")
    expect(page).to_have_url(re.compile(rf"/checkout/confirmation/{number}/$"))
    wait_for_payment_received(page)


def test_a_card_that_asks_for_3d_secure(page: Page, card_shop):
    slug = product_slugs(card_shop)[0]
    sell_stock(card_shop, slug, 5)
    number = buy_by_card(page, card_shop, slug, "three.ds@example.com")
    enter_card(page, "4000002760003184")
    # localstripe's stand-in for the bank's page: once for the card set-up, once for the payment.
    page.get_by_role("button", name="Complete authentication").click()
    page.get_by_role("button", name="Complete authentication").click()
    expect(page).to_have_url(re.compile(rf"/checkout/confirmation/{number}/$"))
    wait_for_payment_received(page)


def test_expiry_puts_the_piece_back_on_sale(page: Page, card_shop, browser):
    slug = product_slugs(card_shop)[1]
    first, *_ = card_shop.variants(slug)
    sell_stock(card_shop, slug, 0, one_left=first)  # one piece left in all
    number = buy_by_card(page, card_shop, slug, "never.pays@example.com")
    assert card_shop.sql("SELECT stock FROM catalog_productvariant WHERE id = %s", first) == [(0,)]
    card_shop.sql("UPDATE orders_order SET payment_deadline = now() - interval '1 minute' WHERE number = %s", number)
    assert number in card_shop.manage("expire_unpaid_orders")
    page.goto(f"{card_shop.origin}/checkout/confirmation/{number}/")
    expect(page.locator("[data-payment-status]")).to_contain_text("This order was cancelled")
    assert card_shop.order_status(number) == "cancelled"
    # Back on sale: another shopper, in a browser of their own, can buy it now.
    other = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        second = buy_by_card(other.new_page(), card_shop, slug, "second.chance@example.com")
    finally:
        other.close()
    assert card_shop.order_status(second) == "awaiting_payment"


def test_staff_refund_in_the_admin(page: Page, card_shop, browser):
    slug = product_slugs(card_shop)[0]
    sell_stock(card_shop, slug, 5)
    number = buy_by_card(page, card_shop, slug, "refund.me@example.com")
    enter_card(page, "4242424242424242")
    wait_for_payment_received(page)

    staff = browser.new_context(viewport={"width": 1280, "height": 900})
    admin = staff.new_page()
    try:
        admin.goto(f"{card_shop.origin}/admin/payments/payment/?q={number}")
        admin.get_by_label("Username").fill("refunds")
        admin.get_by_label("Password").fill(STAFF_PASSWORD)
        admin.get_by_role("button", name="Sign in").click()
        admin.get_by_role("link", name="Refund…").click()
        expect(admin.locator("#content-main")).to_contain_text(number)
        admin.get_by_label("Amount to refund (£)").fill("20.00")
        admin.screenshot(path=str(SHOTS / "payments-admin-refund.png"), full_page=True)
        admin.get_by_role("button", name="Refund through Stripe").click()
        expect(admin.locator(".messagelist")).to_contain_text(f"Refunded £20.00 for order {number}")
        admin.screenshot(path=str(SHOTS / "payments-admin-refunded.png"), full_page=True)
    finally:
        staff.close()
    rows = card_shop.sql(
        "SELECT r.amount, r.status, r.stripe_refund_id FROM payments_refund r JOIN payments_payment p "
        "ON p.id = r.payment_id JOIN orders_order o ON o.id = p.order_id WHERE o.number = %s",
        number,
    )
    assert [(str(amount), status) for amount, status, _ in rows] == [("20.00", "succeeded")]
    assert rows[0][2].startswith("re_")


def test_a_guest_back_through_the_email_link_pays_from_another_browser(page: Page, card_shop, browser):
    """Issue #20: the confirmation e-mail's link opens the order on the shopper's phone, whose "Pay by card"
    used to answer 404 (the payment page ignored the guest grant), so the order lapsed."""
    slug = product_slugs(card_shop)[0]
    sell_stock(card_shop, slug, 5)
    number = buy_by_card(page, card_shop, slug, "back.by.link@example.com")
    ((body,),) = card_shop.sql(
        "SELECT text_body FROM mailqueue_mail WHERE kind = 'order_confirmation' AND reference = %s", number
    )
    link = re.search(r"https?://\S+/orders/view/\?t=\S+", body).group(0)
    phone = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        guest = phone.new_page()
        guest.goto(link)
        expect(guest).to_have_url(re.compile(rf"/orders/guest/{number}/$"))
        guest.get_by_role("link", name="Pay by card").click()
        expect(guest).to_have_url(re.compile(rf"/checkout/pay/{number}/$"))
        expect(guest.get_by_role("button", name=re.compile(r"^Pay £"))).to_be_enabled()
        enter_card(guest, "4242424242424242")
        expect(guest).to_have_url(re.compile(rf"/checkout/confirmation/{number}/$"))
        wait_for_payment_received(guest)
    finally:
        phone.close()
    assert card_shop.order_status(number) == "paid"
