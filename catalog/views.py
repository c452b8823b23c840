"""Storefront pages: home, the shop (list, search and filters), category, collection and product pages."""

import logging
from dataclasses import replace
from urllib.parse import urlencode

from django.conf import settings
from django.http import Http404, HttpResponsePermanentRedirect
from django.template.loader import render_to_string
from django.templatetags.static import static
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.functional import cached_property
from django.utils.html import strip_tags
from django.utils.text import Truncator
from django.views.generic import DetailView, ListView, TemplateView
from django_ratelimit.decorators import ratelimit

from . import selectors
from .cache import (
    fragment_get,
    fragment_get_many,
    fragment_get_or_make,
    fragment_key,
    fragment_set,
    product_page_versions,
    product_stock_version_start,
)
from .choices import photos_for_metal, size_guide_url, variant_data, variant_options
from .forms import ProductFilterForm
from .models import Metal
from .search import SearchPlan, clean_search_text, search_plan, search_suggestions
from .selectors import SearchTooBroadError

TOO_BROAD = "That search was too broad for us to finish: please try fewer words, or add a category or a filter."

# Search analytics (CloudWatch Logs Insights reads these lines): the query text only, never who asked.
search_log = logging.getLogger("shop.catalog")
SEARCH_LOG_QUERY_LENGTH = 100
POPULAR_ON_EMPTY = 4

FEATURED_ON_HOME = 4
NEW_ON_HOME = 8
RELATED_PRODUCTS = 4
META_DESCRIPTION_LENGTH = 160
IN_STOCK = "https://schema.org/InStock"
OUT_OF_STOCK = "https://schema.org/OutOfStock"


def excerpt(text: str, *, length: int = META_DESCRIPTION_LENGTH) -> str:
    """Plain one-line text cut at a word boundary, for meta descriptions."""
    return Truncator(" ".join(strip_tags(text or "").split())).chars(length, truncate="…")


def page_number(raw: str | None) -> int:
    """A page number from the query string; anything unusable means the first page."""
    try:
        number = int(raw or 1)
    except (TypeError, ValueError):
        return 1
    return max(number, 1)


def absolute_url(request, path: str, params: list[tuple[str, str]] | None = None) -> str:
    query = urlencode(params or [])
    return request.build_absolute_uri(f"{path}?{query}" if query else path)


class HomeView(TemplateView):
    template_name = "catalog/home.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        # The two product grids are the same for every visitor: rendered once per catalogue version.
        grids = fragment_get_or_make(fragment_key("home"), self.render_grids)
        context.update(
            **grids,
            categories=selectors.category_roots(categories=selectors.category_list_for_request(self.request)),
            canonical_url=absolute_url(self.request, reverse("catalog:home")),
        )
        return context

    def render_grids(self) -> dict[str, str]:
        featured = selectors.featured_products(limit=FEATURED_ON_HOME)
        new = selectors.new_products(limit=NEW_ON_HOME)
        grid = "includes/_product_grid.html"
        return {
            "featured_grid": render_to_string(grid, {"products": featured, "eager": 4}) if featured else "",
            "new_grid": render_to_string(grid, {"products": new}) if new else "",
        }


def search_rate(group: str, request) -> str | None:
    """SHOP_SEARCH_RATE_PER_IP for a request that searches; None (no limit) for plain lists and filters."""
    return settings.SHOP_SEARCH_RATE_PER_IP if clean_search_text(request.GET.get("q", "")) else None


# Searches per client address ("ip" is RATELIMIT_IP_META_KEY, the shop's one helper; IPv6 by /64): each
# distinct query misses the listing cache, so a script would otherwise make the database rank at will.
# Over the rate, RATELIMIT_VIEW answers the friendly 429 page.
@method_decorator(ratelimit(group="catalog-search", key="ip", rate=search_rate, method=["GET", "HEAD"]), name="get")
class ProductListView(ListView):
    """The shop: every piece, with search, filters, sort and pagination that keeps them.

    The listing (filters, cards, pagination) is cached per catalogue version and per sanitised
    query, so a cached page costs no product query at all; the rest of the page is rendered each time.
    """

    template_name = "catalog/product_list.html"
    context_object_name = "products"
    category = None
    listing_template = "includes/_listing.html"

    def get(self, request, *args, **kwargs):
        self.categories = selectors.category_list_for_request(request)
        self.category = self.get_category()
        self.collection = self.get_collection()
        self.filter_form = ProductFilterForm(
            request.GET, categories=self.categories, with_category=self.category is None
        )
        form = self.filter_form
        self.listing_key = fragment_key(
            "listing",
            request.path,
            sorted((name, repr(value)) for name, value in form.data.items()),
            form.notices,
            page_number(request.GET.get(self.page_kwarg)),
        )
        cached = fragment_get(self.listing_key)
        if cached is not None:
            context = self.get_page_context_data(page_number=cached["page_number"], result_count=cached["result_count"])
            context["listing"] = cached["listing"]
            response = self.render_to_response(context)
        elif self.search.text:
            try:
                with selectors.search_limits():
                    response = super().get(request, *args, **kwargs)
            except SearchTooBroadError:
                response = self.too_broad_response()
        else:
            response = super().get(request, *args, **kwargs)
        self.log_search(response.context_data)
        return response

    def too_broad_response(self):
        """The page with no results and a request for fewer words (not cached: the next try may pass)."""
        context = self.get_page_context_data(page_number=1, result_count=0)
        listing_context = {**context, "error_notices": [TOO_BROAD], "products": [], "request": self.request}
        context["listing"] = render_to_string(self.listing_template, listing_context, self.request)
        return self.render_to_response(context)

    @cached_property
    def search(self) -> SearchPlan:
        """How the typed words are searched; made only when the listing is not cached (it costs ~1 ms)."""
        return search_plan(self.filter_form.filters().q, categories=self.categories)

    def log_search(self, context: dict) -> None:
        """One ``catalog_search`` line per search (its first page only, so paging is not counted again)."""
        text = clean_search_text(self.filter_form.filters().q)
        if not text or context.get("page_number", 1) > 1:
            return
        search_log.info(
            "catalog_search",
            extra={
                "event": "catalog_search",
                "search_query": text.strip().lower()[:SEARCH_LOG_QUERY_LENGTH],
                "search_results": int(context.get("result_count") or 0),
            },
        )

    def get_category(self):
        return None

    def get_collection(self):
        return None

    def get_template_names(self) -> list[str]:
        # One template per view; ListView's "<app>/<model>_list.html" guess needs object_list, which a
        # cached listing never builds.
        return [self.template_name]

    def get_paginate_by(self, queryset) -> int:
        return settings.SHOP_PRODUCTS_PER_PAGE

    def get_queryset(self):
        category_ids = None
        if self.category is not None:
            category_ids = selectors.category_descendant_ids(category=self.category, categories=self.categories)
        filters = self.filter_form.filters(category_ids=category_ids)
        if self.collection is not None:
            filters = replace(filters, collection_id=self.collection.pk)
        return selectors.product_list(filters=filters, search=self.search)

    def paginate_queryset(self, queryset, page_size):
        # A junk or out-of-range ?page= shows the nearest real page (its canonical URL says which).
        paginator = self.get_paginator(queryset, page_size)
        page = paginator.get_page(page_number(self.request.GET.get(self.page_kwarg)))
        return paginator, page, page.object_list, page.has_other_pages()

    def get_page_context_data(self, *, page_number: int, result_count: int) -> dict:
        """What the page around the listing shows: from the form and the page number, no product query."""
        form = self.filter_form
        params = form.canonical_params()
        canonical_params = [*params, ("page", str(page_number))] if page_number > 1 else params
        return {
            "view": self,
            "filter_form": form,
            "search_text": form.cleaned_data.get("q", "") if "q" not in form.errors else "",
            "canonical_url": absolute_url(self.request, self.request.path, canonical_params),
            "result_count": result_count,
            "page_number": page_number,
        }

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        form = self.filter_form
        page = context["page_obj"]
        chips = form.active_filters()
        price_errors = [f"{error} The price filter was not applied." for error in form.price_errors()]
        context.update(
            self.get_page_context_data(page_number=page.number, result_count=page.paginator.count),
            notices=[*form.notices, *self.search.notices],
            error_notices=[*([self.search.refused] if self.search.refused else []), *price_errors],
            filter_query=form.query_string(),
            active_filters=chips,
            has_refinements=any(chip["name"] != "q" for chip in chips),
            page_range=list(page.paginator.get_elided_page_range(page.number, on_each_side=1, on_ends=1)),
            search_corrections=self.search.corrections,
        )
        if not page.paginator.count:
            context.update(self.empty_page_help())
        context["listing"] = render_to_string(self.listing_template, context, self.request)
        fragment_set(
            self.listing_key,
            {"listing": context["listing"], "page_number": page.number, "result_count": page.paginator.count},
        )
        return context

    def empty_page_help(self) -> dict:
        """What an empty result offers instead: other words to try and some pieces worth a look."""
        suggestions = []
        if self.search.text:
            suggestions = [
                {"text": text, "query": urlencode([("q", text)])}
                for text in search_suggestions(self.search.text, categories=self.categories)
            ]
        # The same few pieces for every empty search until the catalogue changes: read once per version,
        # not once per (attacker's) query that finds nothing (issue #21).
        popular = fragment_get_or_make(
            fragment_key("popular"), lambda: {"products": selectors.popular_products(limit=POPULAR_ON_EMPTY)}
        )["products"]
        return {"suggestions": suggestions, "popular": popular}


class CategoryDetailView(ProductListView):
    """A category's page: its own pieces and those of its sub-categories."""

    template_name = "catalog/category_detail.html"

    def get_category(self):
        slug = self.kwargs["slug"]
        for category in self.categories:
            if category.slug == slug:
                return category
        raise Http404("No such category")

    def get_page_context_data(self, **kwargs) -> dict:
        context = super().get_page_context_data(**kwargs)
        category = self.category
        context.update(
            category=category,
            ancestors=selectors.category_ancestors(category=category, categories=self.categories),
            subcategories=[c for c in self.categories if c.parent_id == category.pk],
            meta_description=category.seo_description
            or excerpt(category.description)
            or f"{category.name} from {settings.SHOP_NAME}: fine jewellery, hand-finished and delivered insured.",
        )
        return context


class CollectionDetailView(ProductListView):
    """An active collection's page: its pieces, with the shop's filters."""

    template_name = "catalog/collection_detail.html"

    def get_collection(self):
        slug = self.kwargs["slug"]
        for collection in selectors.collection_list_for_request(self.request):
            if collection.slug == slug:
                return collection
        raise Http404("No such collection")

    def get_page_context_data(self, **kwargs) -> dict:
        context = super().get_page_context_data(**kwargs)
        collection = self.collection
        context.update(
            collection=collection,
            meta_description=excerpt(collection.description)
            or f"The {collection.name} collection from {settings.SHOP_NAME}: fine jewellery, hand-finished.",
        )
        return context


class ProductDetailView(DetailView):
    """A product page.

    The catalogue data it shows (the product with its variants, stock and photos, the related cards,
    the categories) is cached per catalogue version and fetched with one cache read, so a repeated
    view costs no catalogue query. Every catalogue write bumps the catalogue version and every sale
    the product's stock version, and the page's key holds both, so nothing shown is ever stale. The
    page itself (CSRF token, bag count, sign-in) is rendered for each request: only model data and
    shared card HTML are cached.
    """

    template_name = "catalog/product_detail.html"
    context_object_name = "product"
    add_form = None  # a refused "Add to bag" form (cart.views), shown again with its choices and errors

    def get_object(self, queryset=None):
        slug = self.kwargs[self.slug_url_kwarg]
        # The versions for every key, read together before any data the entries are made from.
        version, page_version = product_page_versions(slug=slug)
        keys = {"categories": fragment_key("categories", version=version)}
        if page_version is not None:
            keys["page"] = fragment_key("product", slug, version=page_version)
        found = fragment_get_many(keys)
        categories = found.get("categories")
        if categories is None:
            found_categories, found_collections = selectors.navigation_list()
            categories = {"categories": found_categories, "collections": found_collections}
            fragment_set(keys["categories"], categories)
        selectors.category_list_for_request(
            self.request, categories=categories["categories"], collections=categories.get("collections", [])
        )
        page = found.get("page")
        if page is None:
            product = selectors.product_detail(slug=slug)
            if product is None:
                raise Http404("No such product")
            page = {"product": product, "related_cards": self.related_cards(product, version=version)}
            if page_version is None:  # the product's first view: its stock version starts now
                page_version = product_stock_version_start(slug=slug, catalogue=version)
            if page_version is not None:
                fragment_set(fragment_key("product", slug, version=page_version), page)
        self.related = page["related_cards"]
        return page["product"]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        product = self.object
        variants = product.active_variants
        url = self.request.build_absolute_uri(product.get_absolute_url())
        categories = selectors.category_list_for_request(self.request)
        ancestors = selectors.category_ancestors(category=product.category, categories=categories)
        meta_description = product.seo_description or excerpt(product.description) or product.name
        by_pk = {v.pk: v for v in variants}
        for image in product.ordered_images:
            # The variant a photo shows, from the list in hand (image.variant would query per photo).
            image.shown_variant = by_pk.get(image.variant_id)
        choice = self.shopper_choice(variants)
        options = variant_options(variants, metal=choice["metal"], size=choice["size"])
        selected = options["selected"]
        context.update(
            variants=variants,
            selected_variant=selected,
            choice=choice,
            add_errors=self.add_errors(),
            metal_options=options["metals"],
            size_options=options["sizes"],
            is_ring=bool(options["sizes"]),
            chosen_metal_label=Metal(choice["metal"]).label if choice["metal"] in Metal.values else "",
            chosen_price=selected.price if selected else options["metal_price"],
            chosen_price_varies=selected is None and options["metal_price_varies"],
            variant_data=variant_data(variants),
            is_sold_out=not any(v.is_available for v in variants),
            images=photos_for_metal(product.ordered_images, metal=choice["metal"]),
            # "Shown in rose gold" only helps when the piece comes in more than one metal.
            show_photo_metal=len({v.metal for v in variants}) > 1,
            engraving_max_length=settings.SHOP_ENGRAVING_MAX_LENGTH,
            engraving_fee=settings.SHOP_ENGRAVING_FEE,
            size_guide_url=size_guide_url(),
            breadcrumbs=[*ancestors, product.category],
            related_cards=self.related,
            meta_description=meta_description,
            canonical_url=url,
            product_json_ld=self.product_json_ld(product, url=url, description=meta_description),
            breadcrumb_json_ld=self.breadcrumb_json_ld([*ancestors, product.category], product, url=url),
        )
        return context

    def shopper_choice(self, variants) -> dict:
        """What the add-to-bag form shows as chosen: the refused post as typed, else ``?variant=`` (after
        an add), else the first metal in stock and, for a ring, no size at all."""
        form = self.add_form
        if form is not None:
            data = form.data
            posted = form.cleaned_data.get("variant") if hasattr(form, "cleaned_data") else None
            metal, size = data.get("metal", ""), data.get("size", "")
            if posted is not None and posted.product_id == self.object.pk:
                metal, size = posted.metal, posted.ring_size
            return {
                "metal": metal,
                "size": size,
                "quantity": data.get("quantity", "1"),
                "engraving": data.get("engraving", ""),
            }
        wanted = page_number(self.request.GET.get("variant")) if self.request.GET.get("variant") else None
        chosen = next((v for v in variants if v.pk == wanted), None)
        if chosen is not None:
            return {"metal": chosen.metal, "size": chosen.ring_size, "quantity": "1", "engraving": ""}
        first = next((v for v in variants if v.is_available), variants[0])
        sized = any(v.ring_size for v in variants)
        return {"metal": first.metal, "size": "" if sized else first.ring_size, "quantity": "1", "engraving": ""}

    def add_errors(self) -> dict[str, list[str]]:
        form = self.add_form
        if form is None:
            return {}
        errors = {name: list(messages) for name, messages in form.errors.items()}
        general = errors.pop("__all__", []) + errors.pop("variant", []) + errors.pop("product", [])
        errors.pop("next", None)
        if general:
            errors["general"] = general
        return errors

    def related_cards(self, product, *, version: str) -> list[str]:
        """Rendered cards for "You may also like": other pieces of the product's category, newest first.

        Cached per category and catalogue version (one more card than shown, so each product page of
        the category shares the entry and leaves out its own card)."""

        def render() -> dict[str, list[tuple[int, str]]]:
            pieces = selectors.category_newest_products(category_id=product.category_id, limit=RELATED_PRODUCTS + 1)
            return {"cards": [(p.pk, render_to_string("includes/_product_card.html", {"product": p})) for p in pieces]}

        cards = fragment_get_or_make(fragment_key("related", product.category_id, version=version), render)["cards"]
        return [html for pk, html in cards if pk != product.pk][:RELATED_PRODUCTS]

    def product_json_ld(self, product, *, url: str, description: str) -> dict:
        data = {
            "@context": "https://schema.org",
            "@type": "Product",
            "name": product.name,
            "description": description,
            "url": url,
            "brand": {"@type": "Brand", "name": settings.SHOP_NAME},
            "category": product.category.name,
            "offers": [
                {
                    "@type": "Offer",
                    "sku": variant.sku,
                    "name": variant.options_label,
                    "price": f"{variant.price:.2f}",
                    "priceCurrency": settings.SHOP_CURRENCY,
                    "availability": IN_STOCK if variant.is_available else OUT_OF_STOCK,
                    "itemCondition": "https://schema.org/NewCondition",
                    "url": url,
                }
                for variant in product.active_variants
            ],
        }
        images = [self.request.build_absolute_uri(image.image.url) for image in product.ordered_images]
        if images:
            data["image"] = images
        if len(product.active_variants) == 1:
            data["sku"] = product.active_variants[0].sku
        return data

    def breadcrumb_json_ld(self, categories, product, *, url: str) -> dict:
        items = [(settings.SHOP_NAME, reverse("catalog:home"))]
        items += [(c.name, c.get_absolute_url()) for c in categories]
        elements = [
            {"@type": "ListItem", "position": i, "name": name, "item": self.request.build_absolute_uri(path)}
            for i, (name, path) in enumerate(items, start=1)
        ]
        elements.append({"@type": "ListItem", "position": len(elements) + 1, "name": product.name, "item": url})
        return {"@context": "https://schema.org", "@type": "BreadcrumbList", "itemListElement": elements}


def product_page_response(request, *, slug: str, add_form, status: int = 400):
    """The product page for a refused "Add to bag" post: the shopper's choices kept, errors by their fields.

    Raises Http404 if the product has no page (any more)."""
    view = ProductDetailView(add_form=add_form)
    view.setup(request, slug=slug)
    view.object = view.get_object()
    response = view.render_to_response(view.get_context_data(object=view.object), status=status)
    return response


class RobotsTxtView(TemplateView):
    template_name = "robots.txt"
    content_type = "text/plain; charset=utf-8"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["sitemap_url"] = self.request.build_absolute_uri(reverse("django.contrib.sitemaps.views.sitemap"))
        return context


def favicon(request):
    """Browsers ask for /favicon.ico whatever the page says; send them to the SVG icon."""
    return HttpResponsePermanentRedirect(static("img/favicon.svg"))
