"""Staff pages in Chromium (issue 16, Staff): the order and variant lists show their right-hand columns
at 1280 px, and the admin home's dashboard at 1280 and 390 px (screenshots in /tmp for a person to see)."""

import subprocess

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import PYTHON, REPO, _server_env
from tests.e2e.test_sign_in_journey import provider_sign_in

pytestmark = pytest.mark.e2e

# Two orders with long names and e-mail addresses, and one piece at low stock, in the e2e database.
SEED = """
import uuid
from cart.models import Cart
from cart.services import cart_add_line
from catalog.models import ProductVariant
from orders.services import ShippingAddress, order_place
variants = list(ProductVariant.objects.sellable().order_by("pk")[:2])
for index, variant in enumerate(variants):
    cart = Cart.objects.create()
    cart_add_line(cart=cart, variant=variant, quantity=1)
    order_place(
        cart=cart, checkout_token=uuid.uuid4(), email=f"a.very.long.address.{index}@example-customer-domain.co.uk",
        shipping_address=ShippingAddress(full_name="Augusta Ada King-Noel, Countess of Lovelace",
            address_line1="12 St James's Square", city="London", postcode="SW1Y 4JH", country="GB"),
        shipping_method="express", gift_message="", user=None,
    )
ProductVariant.objects.filter(pk=variants[0].pk).update(stock=1, low_stock_threshold=2)
"""

OVERFLOW = """() => {
  const table = document.querySelector('#result_list');
  const box = table.closest('.results') || table.parentElement;
  return {
    tableRight: Math.round(table.getBoundingClientRect().right),
    viewport: document.documentElement.clientWidth,
    pageOverflow: document.documentElement.scrollWidth - document.documentElement.clientWidth,
    hiddenInBox: box.scrollWidth - box.clientWidth,
  };
}"""


@pytest.fixture(scope="module")
def seeded(shop_server, e2e_database, oidc_provider, tmp_path_factory):
    env = _server_env(
        database_url=e2e_database, media_root=tmp_path_factory.mktemp("seed-media"), extra=oidc_provider.env()
    )
    done = subprocess.run(
        [PYTHON, "manage.py", "shell", "-c", SEED], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return shop_server


def staff_page(page: Page, shop: str, provider) -> Page:
    page.goto(f"{shop}/admin/")
    provider_sign_in(page, provider, "grace@example.com")  # the "staff" group: both staff roles
    expect(page).to_have_url(f"{shop}/admin/")
    return page


@pytest.mark.parametrize("path", ["/admin/orders/order/", "/admin/catalog/productvariant/"])
def test_admin_lists_show_every_column_at_1280(page: Page, seeded, oidc_provider, path):
    staff_page(page, seeded, oidc_provider)
    page.goto(f"{seeded}{path}")
    expect(page.locator("#result_list")).to_be_visible()

    figures = page.evaluate(OVERFLOW)
    name = path.strip("/").replace("/", "-")
    page.screenshot(path=f"/tmp/safety-{name}-1280.png", full_page=True)
    print(f"\n[{path} at 1280] {figures}")

    assert figures["pageOverflow"] <= 0, figures
    assert figures["hiddenInBox"] <= 0, figures
    assert figures["tableRight"] <= figures["viewport"], figures


@pytest.mark.parametrize("width", [1280, 390])
def test_admin_home_dashboard(page: Page, seeded, oidc_provider, width):
    staff_page(page, seeded, oidc_provider)
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{seeded}/admin/")

    dashboard = page.get_by_role("region", name="Today")
    expect(dashboard).to_contain_text("awaiting payment")
    expect(dashboard).to_contain_text("ordered today")
    expect(dashboard).to_contain_text("Low stock")
    page.screenshot(path=f"/tmp/safety-admin-home-{width}.png", full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth") <= 0


def test_product_page_variant_table_with_stock_changes_fits_1280(page: Page, seeded, oidc_provider):
    staff_page(page, seeded, oidc_provider)
    page.goto(f"{seeded}/admin/catalog/product/")
    page.locator("#result_list tbody th a").first.click()
    table = page.locator("#variants-group table")
    expect(table).to_be_visible()
    expect(table).to_contain_text("Stock change")

    box = page.evaluate(
        """() => { const t = document.querySelector('#variants-group table');
                   const w = t.closest('.tabular') || t.parentElement;
                   return {right: Math.round(t.getBoundingClientRect().right),
                           viewport: document.documentElement.clientWidth,
                           hidden: w.scrollWidth - w.clientWidth}; }"""
    )
    page.screenshot(path="/tmp/safety-admin-product-1280.png", full_page=True)
    print(f"\n[product page at 1280] {box}")
    assert box["hidden"] <= 0, box
    assert box["right"] <= box["viewport"], box
