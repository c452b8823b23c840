"""The checkout page's own behaviour in Chromium (issue #16): the error summary takes the focus and
its links move it into the field; collection hides the address and shows the boutique; "pay on
collection" is offered only with collection; the gift message is counted, never cut."""

import psycopg
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import DEMO_RING

pytestmark = pytest.mark.e2e


@pytest.fixture
def bag_with_a_ring(page: Page, shop_server, e2e_database):
    """A ring in this browser's bag, posted the way the product page's form posts a variant id."""
    with psycopg.connect(e2e_database) as conn:
        (variant_id,) = conn.execute(
            "SELECT v.id FROM catalog_productvariant v JOIN catalog_product p ON p.id = v.product_id "
            "WHERE p.slug = %s AND v.is_active AND v.stock > 0 ORDER BY v.id LIMIT 1",
            [DEMO_RING],
        ).fetchone()
    page.goto(f"{shop_server}/product/{DEMO_RING}/")
    csrf = next(c["value"] for c in page.context.cookies() if c["name"].endswith("csrftoken"))
    response = page.request.post(
        f"{shop_server}/cart/add/",
        form={"variant": str(variant_id), "quantity": "1", "csrfmiddlewaretoken": csrf},
        headers={"Referer": f"{shop_server}/"},
    )
    assert response.ok
    return page


def test_error_summary_takes_focus_and_its_links_move_it_to_the_field(bag_with_a_ring: Page, shop_server):
    page = bag_with_a_ring
    page.goto(f"{shop_server}/checkout/")
    page.get_by_label("E-mail").fill("not-an-email")
    page.get_by_label("Postcode").fill("!!!")
    page.get_by_role("button", name="Place order").click()

    summary = page.locator("#error-summary")
    expect(summary).to_be_focused()
    expect(summary.get_by_role("link")).to_have_count(5)  # e-mail, name, address, town, postcode
    summary.get_by_role("link", name="Postcode: Please enter a valid postcode.").click()
    expect(page.get_by_label("Postcode")).to_be_focused()
    expect(page.get_by_label("E-mail")).to_have_value("not-an-email")  # what was typed is kept


def test_collection_hides_the_address_and_pay_on_collection_needs_collection(bag_with_a_ring: Page, shop_server):
    page = bag_with_a_ring
    page.goto(f"{shop_server}/checkout/")
    pay_on_collection = page.get_by_role("radio", name="Pay on collection", exact=False)
    expect(page.locator("#delivery-address")).to_be_visible()
    expect(page.locator("#boutique-details")).to_be_hidden()
    expect(pay_on_collection).to_be_hidden()

    page.get_by_role("radio", name="Collect from our boutique").check()
    expect(page.locator("#delivery-address")).to_be_hidden()
    expect(page.locator("#boutique-details")).to_be_visible()
    pay_on_collection.check()

    page.get_by_role("radio", name="Standard tracked delivery").check()
    expect(pay_on_collection).to_be_hidden()
    expect(page.get_by_role("radio", name="Bank transfer")).to_be_checked()  # never left on an invalid pair

    page.get_by_role("radio", name="Collect from our boutique").check()
    page.get_by_label("E-mail").fill("ada@example.com")
    page.get_by_label("Full name").fill("Ada Lovelace")
    pay_on_collection.check()
    page.get_by_role("button", name="Place order").click()
    expect(page.get_by_role("heading", name="Collect from our boutique")).to_be_visible()


def test_gift_message_is_counted_and_a_long_one_is_kept_whole(bag_with_a_ring: Page, shop_server):
    page = bag_with_a_ring
    page.goto(f"{shop_server}/checkout/")
    gift = page.get_by_label("Gift message")
    gift.fill("x" * 310)
    expect(gift).to_have_value("x" * 310)  # nothing cuts it
    expect(page.locator("#id_gift_message-count")).to_have_text("310 of 300 characters: 10 too many")
