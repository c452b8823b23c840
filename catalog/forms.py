"""Parsing of the shop's filter and sort parameters.

Query strings come from anyone (crawlers, old links, people typing), so unknown values are
dropped with a notice rather than failing the page; only a malformed price is a form error.
"""

from decimal import Decimal
from urllib.parse import urlencode

from django import forms

from .models import Category, Gemstone, Metal
from .money import format_money
from .search import QUERY_MAX_LENGTH, clean_search_text
from .selectors import (
    SORT_NEWEST,
    SORT_PRICE_ASC,
    SORT_PRICE_DESC,
    SORT_RELEVANCE,
    ProductFilters,
    category_descendant_ids,
)

SORT_CHOICES = [
    (SORT_NEWEST, "Newest"),
    (SORT_PRICE_ASC, "Price: low to high"),
    (SORT_PRICE_DESC, "Price: high to low"),
]
SEARCH_SORT_CHOICES = [(SORT_RELEVANCE, "Best match"), *SORT_CHOICES]
GEMSTONE_CHOICES = [(value, label) for value, label in Gemstone.choices if value]
PRICE_MAX = Decimal("99999999.99")
_ECHO_LENGTH = 40  # how much of an unknown value we repeat back in a notice


def _echo(value: str) -> str:
    value = value.replace("\x00", "")
    return value if len(value) <= _ECHO_LENGTH else value[:_ECHO_LENGTH] + "…"


class ProductFilterForm(forms.Form):
    q = forms.CharField(label="Search", required=False, max_length=QUERY_MAX_LENGTH)
    category = forms.ChoiceField(label="Category", required=False)
    metal = forms.MultipleChoiceField(
        label="Metal", required=False, choices=Metal.choices, widget=forms.CheckboxSelectMultiple
    )
    gemstone = forms.MultipleChoiceField(
        label="Gemstone", required=False, choices=GEMSTONE_CHOICES, widget=forms.CheckboxSelectMultiple
    )
    min_price = forms.DecimalField(
        label="Min price", required=False, min_value=0, max_value=PRICE_MAX, decimal_places=2
    )
    max_price = forms.DecimalField(
        label="Max price", required=False, min_value=0, max_value=PRICE_MAX, decimal_places=2
    )
    sort = forms.ChoiceField(label="Sort by", required=False, choices=SORT_CHOICES)

    def __init__(self, query, *, categories: list[Category], with_category: bool = True) -> None:
        """``query`` is ``request.GET``; ``categories`` the active ones, for the category filter."""
        self.notices: list[str] = []
        self._price_range_invalid = False
        self._categories = {c.slug: c for c in categories}
        self._with_category = with_category
        self._searching = bool(clean_search_text(query.get("q", "")))
        super().__init__(self._sanitise(query))
        if with_category:
            by_pk = {c.pk: c for c in categories}
            self.fields["category"].choices = [("", "All jewellery")] + [
                (c.slug, self._category_label(c, by_pk)) for c in categories
            ]
        else:
            del self.fields["category"]
        if self._searching:
            self.fields["sort"].choices = SEARCH_SORT_CHOICES
        for name in ("min_price", "max_price"):
            self.fields[name].widget.attrs.update({"inputmode": "decimal", "placeholder": "Any"})

    @staticmethod
    def _category_label(category: Category, by_pk: dict[int, Category]) -> str:
        # Built from the list in hand: Category.__str__ would fetch each parent with a query.
        parent = by_pk.get(category.parent_id)
        return f"{parent.name} › {category.name}" if parent else category.name

    # --- Sanitising raw parameters ----------------------------------------------------
    def _sanitise(self, query) -> dict:
        data: dict = {}
        raw_q = query.get("q", "")
        q = clean_search_text(raw_q)
        if len(" ".join(raw_q.split())) > QUERY_MAX_LENGTH:
            self.notices.append(f"Your search was shortened to {QUERY_MAX_LENGTH} characters.")
        if q:
            data["q"] = q
        if self._with_category:
            slug = query.get("category", "")
            if slug and slug in self._categories:
                data["category"] = slug
            elif slug:
                self.notices.append(f"We could not find the category “{_echo(slug)}”, so it was not applied.")
        data["metal"] = self._known(query.getlist("metal"), dict(Metal.choices), "metal")
        data["gemstone"] = self._known(query.getlist("gemstone"), dict(GEMSTONE_CHOICES), "gemstone")
        for name in ("min_price", "max_price"):
            value = query.get(name, "").strip()
            if value:
                data[name] = value.replace("\x00", "")
        sort = query.get("sort", "")
        allowed = {value for value, _ in (SEARCH_SORT_CHOICES if self._searching else SORT_CHOICES)}
        # Anything else silently means the default order (shown selected in the form).
        data["sort"] = sort if sort in allowed else (SORT_RELEVANCE if self._searching else SORT_NEWEST)
        return data

    def _known(self, values: list[str], choices: dict[str, str], what: str) -> list[str]:
        known = []
        for value in values:
            if value in choices:
                if value not in known:
                    known.append(value)
            elif value:
                self.notices.append(f"We ignored an unknown {what} filter, “{_echo(value)}”.")
        return known

    def clean(self):
        cleaned = super().clean()
        low, high = cleaned.get("min_price"), cleaned.get("max_price")
        if low is not None and high is not None and low > high:
            # A reversed range is one mistake: report it once and drop both ends.
            self.add_error(None, "The maximum price must be at least the minimum price.")
            self._price_range_invalid = True
        return cleaned

    # --- Results ------------------------------------------------------------------------
    def _valid(self, name: str):
        """A field's cleaned value, or None when that field has an error (ignored, not fatal)."""
        self.is_valid()
        if name in self.errors:
            return None
        if name in {"min_price", "max_price"} and self._price_range_invalid:
            return None
        return self.cleaned_data.get(name)

    def price_errors(self) -> list[str]:
        """Messages for a price filter that could not be used (shown at the top of the page)."""
        self.is_valid()
        messages = [
            f"{self.fields[name].label}: {error}"
            for name in ("min_price", "max_price")
            for error in self.errors.get(name, [])
        ]
        return [*messages, *self.non_field_errors()]

    @property
    def default_sort(self) -> str:
        return SORT_RELEVANCE if self._searching else SORT_NEWEST

    def filters(self, *, category_ids: frozenset[int] | None = None) -> ProductFilters:
        """The valid part of the query, for ``selectors.product_list``."""
        slug = self._valid("category") if self._with_category else None
        if slug:
            category_ids = self.category_ids_for(slug)
        return ProductFilters(
            q=self._valid("q") or "",
            category_ids=category_ids,
            metals=tuple(self._valid("metal") or ()),
            gemstones=tuple(self._valid("gemstone") or ()),
            min_price=self._valid("min_price"),
            max_price=self._valid("max_price"),
            sort=self._valid("sort") or self.default_sort,
        )

    def category_ids_for(self, slug: str) -> frozenset[int]:
        return category_descendant_ids(category=self._categories[slug], categories=list(self._categories.values()))

    def canonical_params(self) -> list[tuple[str, str]]:
        """Valid parameters in a stable order: for canonical URLs and links that keep the filters."""
        params: list[tuple[str, str]] = []
        for name in ("q", "category"):
            value = self._valid(name) if name in self.fields else None
            if value:
                params.append((name, value))
        for name in ("metal", "gemstone"):
            params.extend((name, value) for value in sorted(self._valid(name) or ()))
        for name in ("min_price", "max_price"):
            value = self._valid(name)
            if value is not None:
                params.append((name, f"{value.normalize():f}"))
        sort = self._valid("sort")
        if sort and sort != self.default_sort:
            params.append(("sort", sort))
        return params

    def query_string(self) -> str:
        return urlencode(self.canonical_params())

    @property
    def has_filters(self) -> bool:
        return any(name != "sort" for name, _ in self.canonical_params())

    def active_filters(self) -> list[dict[str, str]]:
        """Chips for the applied filters, each with the query string that removes it."""
        params = self.canonical_params()
        labels = {
            "metal": dict(Metal.choices),
            "gemstone": dict(GEMSTONE_CHOICES),
            "category": {slug: c.name for slug, c in self._categories.items()},
        }
        chips = []
        for index, (name, value) in enumerate(params):
            if name == "sort":
                continue
            if name == "q":
                label = f"“{value}”"
            elif name == "min_price":
                label = f"From {format_money(value)}"
            elif name == "max_price":
                label = f"Up to {format_money(value)}"
            else:
                label = labels[name].get(value, value)
            remaining = params[:index] + params[index + 1 :]
            chips.append({"name": name, "label": label, "remove_query": urlencode(remaining)})
        return chips
