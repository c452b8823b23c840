"""Issue #16 in Chromium: the product page's choices where they live in the page (the engraving count,
a size that must be chosen, the layout on a phone) and the whole add to bag with JavaScript off."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import DEMO_RING

pytestmark = pytest.mark.e2e

PHONE = {"width": 390, "height": 844}


def ring_page(page: Page, shop_server: str) -> None:
    page.goto(f"{shop_server}/product/{DEMO_RING}/")
    expect(page.get_by_role("heading", level=1)).to_be_visible()


def size(page: Page, value: str):
    return page.locator(".sizes label", has_text=re.compile(rf"^{value}"))


def test_engraving_counts_live_and_refuses_instead_of_cutting(page: Page, shop_server):
    ring_page(page, shop_server)
    page.get_by_text("Add an engraving").click()
    field = page.get_by_label("Engraving text")
    counter = page.locator("[data-engraving-count]")
    field.fill("Léa ♥ 2026")
    expect(counter).to_have_text("10 of 30 characters")
    long_text = "For ever and ever, my dearest Léa"  # 33 characters, typed or pasted
    field.fill(long_text)
    expect(field).to_have_value(long_text)  # no maxlength: nothing is cut
    expect(counter).to_have_text("33 of 30 characters: 3 too many, please shorten it")
    expect(field).to_have_attribute("aria-invalid", "true")
    size(page, "L").click()
    url = page.url
    page.get_by_role("button", name="Add to bag").click()
    expect(field).to_be_focused()  # the form was not sent
    assert page.url == url
    field.fill("Léa ♥ 2026")
    page.get_by_role("button", name="Add to bag").click()
    expect(page.locator(".messages")).to_contain_text("is in your bag")
    expect(page.get_by_role("link", name="View bag")).to_be_visible()
    expect(page.get_by_role("link", name="Checkout")).to_be_visible()


def test_a_ring_size_must_be_chosen_and_choices_survive_the_refusal(page: Page, shop_server):
    ring_page(page, shop_server)
    expect(page.get_by_role("group", name="Select your size")).to_be_visible()
    expect(page.locator('input[name="size"]:checked')).to_have_count(0)
    page.locator(".swatch label", has_text="Platinum").click()
    expect(page.locator("[data-spec-metal]")).to_have_text("Platinum")
    expect(page.locator("[data-metal-current]")).to_have_text("Platinum")
    page.get_by_label("Quantity").fill("2")
    page.get_by_role("button", name="Add to bag").click()
    error = page.locator("#size-error")
    expect(error).to_have_text("Please select your size.")
    # The error sits inside the size group, and nothing the shopper chose was lost.
    expect(page.locator(".choice--size #size-error")).to_have_count(1)
    expect(page.locator('input[name="metal"][value="platinum"]')).to_be_checked()
    expect(page.get_by_label("Quantity")).to_have_value("2")
    size(page, "N").click()
    page.get_by_role("button", name="Add to bag").click()
    expect(page.locator(".messages")).to_contain_text("Platinum, size N")
    # After the add the same variant is still chosen.
    expect(page.locator('input[name="metal"][value="platinum"]')).to_be_checked()
    expect(page.locator('input[name="size"][value="N"]')).to_be_checked()


def test_on_a_phone_add_to_bag_is_within_one_screen_after_the_photos(browser, shop_server):
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    try:
        page = context.new_page()
        ring_page(page, shop_server)
        gallery = page.locator("[data-gallery]").bounding_box()
        button = page.get_by_role("button", name="Add to bag").bounding_box()
        below_photos = button["y"] + button["height"] - (gallery["y"] + gallery["height"])
        assert 0 < below_photos <= PHONE["height"], f"Add to bag ends {below_photos:.0f}px below the photos"
        page.screenshot(path="/tmp/storefront-e2e-ring-390.png", full_page=True)
    finally:
        context.close()


def test_add_to_bag_works_without_javascript(browser, shop_server):
    context = browser.new_context(viewport=PHONE, java_script_enabled=False)
    try:
        page = context.new_page()
        ring_page(page, shop_server)
        page.locator(".swatch label", has_text="White gold").click()
        size(page, "N").click()  # the white gold photo belongs to size J: N shows it by its metal
        page.get_by_role("button", name="Add to bag").click()
        expect(page.locator(".messages")).to_contain_text("White gold, size N")
        expect(page.locator('input[name="metal"][value="white-gold"]')).to_be_checked()
        page.get_by_role("link", name="View bag").click()
        expect(page.locator("main")).to_contain_text("White gold, size N")
        # The bag's thumbnail is the white gold photo, not the product's first (yellow gold) one.
        expect(page.locator(".bag-line__image")).to_have_attribute("alt", re.compile("white gold", re.IGNORECASE))
    finally:
        context.close()
