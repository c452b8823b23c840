"""Issue 20's hoarding abuses rerun over HTTP against the real entry point: gunicorn with production
settings (deploy/gunicorn.conf.py, three sync workers) on the pytest Postgres database.

Each shopper is a fresh session (its own cookies) with a fresh e-mail address; the client address is the
one the proxy chain wrote (X-Forwarded-For, three trusted hops as in production). The rate limits are
production's (30 orders an hour per address) in production's atomic database counters (issue #21); the
hold cap is what must bound what one address holds, whatever the rate limiter lets through.
"""

import re
from decimal import Decimal
from urllib.parse import urljoin

import pytest
import requests
from django.db import connection

from orders.models import Order, OrderStatus
from tests.deploy.conftest import PROD_HOST, database_url, prod_env, prod_gunicorn, run_manage, strong_secret_key
from tests.factories import ProductFactory, ProductVariantFactory
from tests.orders.conftest import CHECKOUT_POST
from tests.servers import free_port
from tests.threads import run_together

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = f"https://{PROD_HOST}"
EDGE, BALANCER = "130.176.9.1", "172.26.3.4"  # what CloudFront and the load balancer append


@pytest.fixture(scope="module")
def shop(django_db_setup, django_db_blocker, tmp_path_factory):
    """The shop under production settings in gunicorn, serving pytest's database."""
    with django_db_blocker.unblock():
        name = connection.settings_dict["NAME"]
    tmp = tmp_path_factory.mktemp("holds-http")
    env = prod_env(
        database_url=database_url(name),
        DJANGO_SECRET_KEY=strong_secret_key(),
        DJANGO_ALLOWED_HOSTS=PROD_HOST,
        DJANGO_STATIC_ROOT=str(tmp / "static"),
        GUNICORN_BIND=f"127.0.0.1:{free_port()}",
        GUNICORN_WORKERS="3",
    )
    collected = run_manage("collectstatic", "--noinput", "-v0", env=env)
    assert collected.returncode == 0, collected.stderr
    with prod_gunicorn(env, tmp) as server:
        yield server.url


class Shopper:
    """One browser: its own cookies (kept by hand: they are Secure, and the test talks plain HTTP to
    gunicorn as nginx does) and a client address written by our proxy chain."""

    def __init__(self, base: str, address: str) -> None:
        self.base, self.address, self.cookies = base, address, {}

    def request(self, method: str, path: str, data: dict | None = None) -> requests.Response:
        headers = {
            "Host": PROD_HOST,
            "X-Forwarded-Proto": "https",
            "X-Forwarded-For": f"{self.address}, {EDGE}, {BALANCER}",
            "Origin": ORIGIN,
            "Referer": urljoin(ORIGIN, path),
            "Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items()),
        }
        if data is not None:
            data = {**data, "csrfmiddlewaretoken": self.cookies.get("__Host-csrftoken", "")}
        response = requests.request(
            method, self.base + path, data=data, headers=headers, allow_redirects=False, timeout=60
        )
        self.cookies.update(response.cookies.get_dict())
        return response

    def add(self, variant, quantity: int = 1) -> None:
        assert self.request("GET", variant.product.get_absolute_url()).status_code == 200
        added = self.request("POST", "/cart/add/", {"variant": variant.pk, "quantity": quantity})
        assert added.status_code == 302, added.text[:500]

    def checkout_form(self, **overrides) -> dict:
        page = self.request("GET", "/checkout/")
        assert page.status_code == 200, page.status_code
        hidden = dict(re.findall(r'name="(checkout_token|expected_goods_total)" value="([^"]*)"', page.text))
        return {**CHECKOUT_POST, **hidden, **overrides}

    def place(self, form: dict) -> str:
        """POST the checkout; "placed", "refused" (back to the bag) or "429"."""
        response = self.request("POST", "/checkout/", form)
        if response.status_code == 429:
            return "429"
        assert response.status_code == 302, (response.status_code, response.text[:500])
        return "placed" if "/checkout/confirmation/" in response.headers["Location"] else "refused"


def ready(base: str, address: str, variant, n: int) -> tuple[Shopper, dict]:
    shopper = Shopper(base, address)
    shopper.add(variant)
    local = re.sub(r"[^0-9a-z]", "-", address)
    return shopper, shopper.checkout_form(email=f"burst{n}-{local}@example.com")


def held(address: str) -> tuple[int, Decimal, int]:
    orders = list(Order.objects.filter(status=OrderStatus.AWAITING_PAYMENT, client_key=address))
    return sum(o.pieces for o in orders), sum((o.goods_total for o in orders), Decimal("0.00")), len(orders)


def burst(base: str, address: str, variant, shoppers: int) -> dict[str, int]:
    ready_ones = [ready(base, address, variant, n) for n in range(shoppers)]
    outcomes = run_together([lambda s=s, f=f: s.place(f) for s, f in ready_ones], what="an HTTP checkout")
    assert not [o for o in outcomes if isinstance(o, BaseException)], outcomes
    return {key: outcomes.count(key) for key in ("placed", "refused", "429")}


def test_one_address_with_fresh_sessions_and_emails_holds_at_most_the_caps_over_http(shop):
    """Production defaults: 10 pieces and £5,000 per address. Before issue 20 a burst of 45 orders from
    one address placed 32 to 37 (the rate limit's counter is not atomic) and nothing capped pieces."""
    cheap = ProductVariantFactory(product=ProductFactory(name="Pearl Studs"), price=Decimal("100.00"), stock=100)
    counts = burst(shop, "203.0.113.10", cheap, 45)
    print(f"\n[45 at once, £100 pieces] {counts} held={held('203.0.113.10')}")
    assert counts["placed"] == 10
    assert held("203.0.113.10") == (10, Decimal("1000.00"), 10)

    dear = ProductVariantFactory(product=ProductFactory(name="Sapphire Ring"), price=Decimal("900.00"), stock=100)
    counts = burst(shop, "203.0.113.11", dear, 12)
    print(f"[12 at once, £900 pieces] {counts} held={held('203.0.113.11')}")
    assert counts["placed"] == 5  # £4,500: a sixth would pass £5,000
    assert held("203.0.113.11") == (5, Decimal("4500.00"), 5)

    # IPv6: a fresh address in the same /56 is the same client
    v6 = [f"2001:db8:5:6::{n:x}" for n in range(1, 13)]
    outcomes = []
    for n, address in enumerate(v6):
        shopper, form = ready(shop, address, cheap, n)
        outcomes.append(shopper.place(form))
    assert outcomes.count("placed") == 10
    assert held("2001:db8:5::/56")[0] == 10


def test_a_refused_checkout_is_a_page_that_says_what_to_do_over_http(shop):
    ring = ProductVariantFactory(product=ProductFactory(name="Opal Ring"), price=Decimal("200.00"), stock=50)
    shopper = Shopper(shop, "198.51.100.20")
    shopper.add(ring, quantity=6)
    shopper.add(ProductVariantFactory(price=Decimal("50.00"), stock=50), quantity=6)
    assert shopper.place(shopper.checkout_form(email="big@example.com")) == "refused"
    bag = shopper.request("GET", "/cart/")
    assert bag.status_code == 200
    assert "An order waiting for payment can hold at most 10 pieces" in bag.text
    assert "contact us" in bag.text
    assert Order.objects.filter(client_key="198.51.100.20").count() == 0


def test_a_stranger_cannot_block_a_customers_checkout_over_http(shop):
    cheap = ProductVariantFactory(product=ProductFactory(name="Silver Charm"), price=Decimal("5.00"), stock=50)
    for n in range(3):
        stranger = Shopper(shop, f"198.51.100.{30 + n}")
        stranger.add(cheap)
        form = stranger.checkout_form(
            email="victim@example.com", shipping_method="collect", payment_method="on_collection"
        )
        assert stranger.place(form) == "placed"
    victim = Shopper(shop, "203.0.113.99")
    victim.add(ProductVariantFactory(price=Decimal("300.00"), stock=5))
    assert victim.place(victim.checkout_form(email="victim@example.com")) == "placed"
    assert Order.objects.filter(email="victim@example.com", status=OrderStatus.AWAITING_PAYMENT).count() == 4
