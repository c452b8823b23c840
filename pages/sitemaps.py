"""sitemap.xml section for the published content pages."""

from django.contrib.sitemaps import Sitemap

from .models import Page


class PageSitemap(Sitemap):
    changefreq = "monthly"
    priority = 0.4

    def items(self):
        return Page.objects.filter(is_published=True).order_by("pk")

    def lastmod(self, page):
        return page.updated_at
