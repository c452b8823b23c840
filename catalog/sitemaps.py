"""sitemap.xml sections: static pages, categories, collections and products (only pages that exist)."""

from django.contrib.sitemaps import Sitemap
from django.urls import reverse

from .models import Category
from .selectors import sitemap_collections, sitemap_products


class StaticSitemap(Sitemap):
    changefreq = "daily"
    priority = 0.8

    def items(self):
        return ["catalog:home", "catalog:product-list"]

    def location(self, item):
        return reverse(item)


class CategorySitemap(Sitemap):
    changefreq = "weekly"
    priority = 0.6

    def items(self):
        return Category.objects.on_sale().order_by("pk")


class CollectionSitemap(Sitemap):
    changefreq = "weekly"
    priority = 0.6

    def items(self):
        return sitemap_collections()


class ProductSitemap(Sitemap):
    changefreq = "weekly"
    priority = 0.7

    def items(self):
        return sitemap_products()

    def lastmod(self, product):
        return product.updated_at


SITEMAPS = {
    "static": StaticSitemap,
    "categories": CategorySitemap,
    "collections": CollectionSitemap,
    "products": ProductSitemap,
}
