"""End to end in Chromium: the shop under gunicorn, signing in at the real test provider."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import DEMO_RING

pytestmark = pytest.mark.e2e


def provider_sign_in(page: Page, provider, username: str) -> None:
    """We are on the provider's sign-in page: fill it in as the person would."""
    expect(page).to_have_url(re.compile(rf"^{re.escape(provider.issuer)}/interaction/"))
    page.get_by_label("E-mail").fill(username)
    page.get_by_label("Password").fill(provider.user(username)["password"])
    page.get_by_role("button", name="Sign in").click()


def test_shopper_keeps_the_bag_through_sign_in_orders_and_signs_out(page: Page, shop_server, oidc_provider):
    # Anonymous: a ring into the bag.
    page.goto(f"{shop_server}/product/{DEMO_RING}/")
    ring_name = page.get_by_role("heading", level=1).inner_text()
    page.get_by_text("L", exact=True).click()  # a ring needs its size chosen (issue #16)
    page.get_by_role("button", name="Add to bag").click()
    page.goto(f"{shop_server}/cart/")
    expect(page.locator("main")).to_contain_text(ring_name)

    # Sign in from the bag: off to the provider and straight back to the bag, still holding the ring.
    page.get_by_role("link", name="Sign in").click()
    provider_sign_in(page, oidc_provider, "ada@example.com")
    expect(page).to_have_url(f"{shop_server}/cart/")
    expect(page.locator("main")).to_contain_text(ring_name)
    expect(page.get_by_role("link", name="Account")).to_be_visible()

    # Check out as the signed-in shopper.
    page.goto(f"{shop_server}/checkout/")
    expect(page.get_by_label("E-mail")).to_have_value("ada@example.com")
    page.get_by_label("Full name").fill("Ada Lovelace")
    page.get_by_label("Address", exact=True).fill("12 St James's Square")
    page.get_by_label("City").fill("London")
    page.get_by_label("Postcode").fill("SW1Y 4JH")
    page.get_by_role("button", name=re.compile("Place order")).click()
    expect(page).to_have_url(re.compile(r"/checkout/confirmation/[^/]+/$"))
    number = page.url.rstrip("/").rsplit("/", 1)[-1]

    # The order is in the history.
    page.goto(f"{shop_server}/account/")
    page.get_by_role("link", name="Your orders").click()
    expect(page.locator("main")).to_contain_text(number)

    # Sign out (account page): our session ends, then the provider's (its confirmation page), then home.
    page.get_by_role("link", name="Account").click()
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(rf"^{re.escape(oidc_provider.issuer)}/session/end"))
    page.get_by_role("button", name="Yes, sign me out").click()
    expect(page).to_have_url(f"{shop_server}/")
    expect(page.get_by_role("link", name="Sign in")).to_be_visible()

    # The history is out of reach now: the shop sends us to sign in again, and the provider asks for a password.
    for path in ("/orders/", f"/orders/{number}/"):
        page.goto(f"{shop_server}{path}")
        expect(page).to_have_url(re.compile(rf"^{re.escape(oidc_provider.issuer)}/interaction/"))
        expect(page.get_by_label("Password")).to_be_visible()
        assert number not in page.content()


def test_a_staff_group_member_reaches_the_admin(page: Page, shop_server, oidc_provider):
    page.goto(f"{shop_server}/admin/")
    provider_sign_in(page, oidc_provider, "grace@example.com")
    expect(page).to_have_url(f"{shop_server}/admin/")
    expect(page.locator("#content")).to_contain_text("Catalog")
    assert "You don’t have permission" not in page.content()


def test_a_shopper_outside_the_staff_group_does_not(page: Page, shop_server, oidc_provider):
    page.goto(f"{shop_server}/admin/")
    provider_sign_in(page, oidc_provider, "ada@example.com")
    expect(page.get_by_role("heading", name="Staff only")).to_be_visible()
    assert "Log out" not in page.content()
    response = page.goto(f"{shop_server}/admin/catalog/")
    assert response is not None
    assert response.url.startswith(shop_server)
    expect(page.get_by_role("heading", name="Staff only")).to_be_visible()
