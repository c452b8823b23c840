"""Content pages: seeded text, the size chart as an accessible table, staff Markdown sanitised,
footer and sitemap links, and the size guide reachable through SHOP_SIZE_GUIDE_URL."""

import pytest
from django.conf import settings
from django.urls import reverse

from pages.content import PAGES, RING_SIZES
from pages.models import Page
from pages.rendering import markdown_to_safe_html
from tests.factories import StaffUserFactory

pytestmark = pytest.mark.django_db


def test_every_seeded_page_renders_with_its_title(client):
    assert Page.objects.count() == len(PAGES) == 6
    for slug, title, summary, _ in PAGES:
        response = client.get(reverse("pages:page-detail", kwargs={"slug": slug}))
        assert response.status_code == 200, slug
        html = response.content.decode()
        assert f'<h1 id="page-title">{title}</h1>' in html
        assert f'content="{summary}"' in html


def test_size_guide_is_an_accessible_chart_of_every_size(client):
    html = client.get(reverse("pages:size-guide")).content.decode()
    assert "<caption>Ring sizes: UK letter, US and EU size, inside circumference</caption>" in html
    assert '<th scope="col">Inside circumference (mm)</th>' in html
    for uk, us, eu, mm in RING_SIZES:
        assert f'<tr><th scope="row">{uk}</th><td>{us}</td><td>{eu}</td><td>{mm}</td></tr>' in html


def test_size_guide_setting_resolves_to_the_size_guide():
    # catalog.choices.size_guide_url (storefront) reverses this setting for every ring's size choice.
    assert settings.SHOP_SIZE_GUIDE_URL == "pages:size-guide"
    assert reverse(settings.SHOP_SIZE_GUIDE_URL) == "/info/size-guide/"


@pytest.mark.parametrize(
    "evil",
    [
        "<script>alert(1)</script>",
        '<img src="x" onerror="alert(1)">',
        '<a href="javascript:alert(1)">click</a>',
        '<p style="position:fixed">overlay</p>',
        '<iframe src="https://evil.example"></iframe>',
        "[click](javascript:alert(1))",
        '<table onmouseover="alert(1)"><tr><td>x</td></tr></table>',
    ],
)
def test_admin_markdown_cannot_inject_script(evil):
    html = markdown_to_safe_html(f"Hello\n\n{evil}\n")
    lowered = html.lower()
    for needle in ("<script", "onerror", "javascript:", "style=", "<iframe", "onmouseover", "<img"):
        assert needle not in lowered, (evil, html)


def test_script_written_in_the_admin_is_neutralised_on_the_page(client):
    staff = StaffUserFactory()
    client.force_login(staff)
    response = client.post(
        reverse("admin:pages_page_add"),
        {
            "slug": "gift-wrapping",
            "title": "Gift wrapping",
            "summary": "How we wrap.",
            "body": "Our **ivory box**.\n\n<script>alert('x')</script>\n\n<img src=x onerror=alert(1)>",
            "is_published": "on",
        },
    )
    assert response.status_code == 302, response.content[:500]
    client.logout()
    html = client.get("/info/gift-wrapping/").content.decode()
    assert "<strong>ivory box</strong>" in html
    assert "<script>alert" not in html
    assert "onerror" not in html


def test_unpublished_and_unknown_pages_are_404(client):
    Page.objects.filter(slug="privacy").update(is_published=False)
    assert client.get("/info/privacy/").status_code == 404
    assert client.get("/info/no-such-page/").status_code == 404


def test_footer_links_every_content_page(client):
    html = client.get(reverse("pages:page-detail", kwargs={"slug": "contact"})).content.decode()
    for slug, *_ in PAGES:
        url = reverse("pages:size-guide") if slug == "size-guide" else f"/info/{slug}/"
        assert f'href="{url}"' in html, slug


def test_sitemap_lists_published_pages(client):
    Page.objects.filter(slug="terms-of-sale").update(is_published=False)
    xml = client.get("/sitemap.xml").content.decode()
    assert "/info/size-guide/</loc>" in xml
    assert "/info/contact/</loc>" in xml
    assert "/info/terms-of-sale/" not in xml


def test_content_page_query_count(client, django_assert_max_num_queries):
    with django_assert_max_num_queries(3):  # the page (+ the header's categories)
        assert client.get("/info/jewellery-care/").status_code == 200


def test_a_ring_size_choice_links_to_the_size_guide(client):
    from tests.factories import ProductVariantFactory

    ring = ProductVariantFactory(ring_size="L", stock=2).product
    ProductVariantFactory(product=ring, ring_size="N", stock=2)
    html = client.get(ring.get_absolute_url()).content.decode()
    assert 'href="/info/size-guide/"' in html
