"""Keyword search over products, forgiving of typos and of shop words (categories, metals, stones).

Each word of a plain query must match the product in one of these ways (a websearch AND):
- its text: Postgres full-text search over *exactly* the expression of the GIN index that migration
  0005 creates (name, description, main metal and stone), so the planner can use the index;
- a typo of a word of its name: pg_trgm strict word similarity (the trigram index of migration 0005);
- a shop word, matched in Python against a small vocabulary (category names, metal and stone labels),
  typos included ("saphire", "engagment"): the product's category (or a sub-category), a metal any of
  its active variants is sold in, or its stone.
A query written with websearch syntax (quotes, ``-word``, ``or``) is passed to Postgres as it is.
On SQLite (``make run``) ``icontains`` on the same words stands in for both text matches.
"""

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.contrib.postgres.search import (
    SearchQuery,
    SearchRank,
    SearchVectorField,
    TrigramStrictWordSimilarity,
)
from django.db import connection
from django.db.models import Exists, F, FloatField, Func, OuterRef, Q, QuerySet, Value
from django.db.models.functions import Coalesce

from .models import Category, Gemstone, Metal, ProductVariant

SEARCH_CONFIG = "english"
# Longer queries are cut here: enough for any real search, small enough to bound the work.
QUERY_MAX_LENGTH = 100
MAX_WORDS = 8
# difflib ratio from which a typed word counts as a shop word ("saphire" ~ "sapphire" is 0.93,
# "ring" ~ "earring" only 0.73, so rings never find earrings).
TYPO_RATIO = 0.8
# Lower bar for the "Did you mean" suggestion on an empty result page.
SUGGEST_RATIO = 0.6
MIN_FUZZY_LENGTH = 4
_STOP_WORDS = frozenset({"a", "an", "and", "the", "of", "in", "with", "for", "to", "on", "my", "her", "his"})
_WEBSEARCH_SYNTAX = re.compile(r'"|(?:^|\s)-\S|(?:^|\s)or(?:\s|$)', re.IGNORECASE)
_WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*")


class ProductSearchDocument(Func):
    """``to_tsvector('english'::regconfig, name || ' ' || description || ' ' || metal || ' ' || gemstone)``.

    Written out literally (not ``SearchVector``, which adds COALESCE and a bound config
    parameter) because Postgres only uses an expression index for an identical expression.
    """

    template = "to_tsvector('english'::regconfig, %(expressions)s)"
    arg_joiner = " || ' ' || "
    output_field = SearchVectorField()

    def __init__(self) -> None:
        super().__init__(F("name"), F("description"), F("metal"), F("gemstone"))


PRODUCT_SEARCH_DOCUMENT = ProductSearchDocument


def clean_search_text(text: str) -> str:
    """Bound the length and drop NUL bytes (Postgres rejects them in text)."""
    return " ".join(text.replace("\x00", " ").split())[:QUERY_MAX_LENGTH].strip()


def uses_full_text_search() -> bool:
    return connection.vendor == "postgresql"


def _stem(word: str) -> str:
    """A crude English singular, enough to pair "rings" with "Rings" and "rubies" with "Ruby"."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("es") and word[-3] in "sxz":
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _words(text: str) -> list[str]:
    return [w for w in (m.group().lower() for m in _WORD.finditer(text)) if w not in _STOP_WORDS]


def _similar(word: str, term: str, ratio: float = TYPO_RATIO) -> bool:
    word, term = _stem(word), _stem(term)
    if word == term:
        return True
    if min(len(word), len(term)) < MIN_FUZZY_LENGTH:
        return False
    return difflib.SequenceMatcher(None, word, term).ratio() >= ratio


@dataclass(frozen=True)
class SearchWord:
    """One typed word and the shop words it stands for."""

    text: str
    corrections: tuple[str, ...] = ()  # vocabulary words it is a typo of (not itself)
    category_ids: frozenset[int] = frozenset()
    metals: tuple[str, ...] = ()
    gemstones: tuple[str, ...] = ()

    @property
    def text_forms(self) -> tuple[str, ...]:
        return (self.text, *self.corrections)


@dataclass(frozen=True)
class SearchPlan:
    """How a query is run: websearch text as typed, or one ``SearchWord`` per word."""

    text: str
    websearch: bool = False
    words: tuple[SearchWord, ...] = ()
    corrections: tuple[tuple[str, str], ...] = field(default=())  # (typed, understood) for the page


def _category_ids(category: Category, children: dict[int, list[int]]) -> set[int]:
    found, todo = set(), [category.pk]
    while todo:
        pk = todo.pop()
        if pk not in found:
            found.add(pk)
            todo.extend(children.get(pk, ()))
    return found


def search_plan(text: str, *, categories: Iterable[Category] = ()) -> SearchPlan:
    """Split ``text`` into words and find the category, metal and stone each may mean (no query)."""
    text = clean_search_text(text)
    if not text:
        return SearchPlan(text="")
    if _WEBSEARCH_SYNTAX.search(text) and uses_full_text_search():
        return SearchPlan(text=text, websearch=True)
    categories = list(categories)
    children: dict[int, list[int]] = {}
    for c in categories:
        if c.parent_id is not None:
            children.setdefault(c.parent_id, []).append(c.pk)
    words, corrections = [], []
    for word in _words(text)[:MAX_WORDS]:
        found_ids: set[int] = set()
        terms: list[str] = []
        for category in categories:
            matched = [t for t in _words(category.name) if _similar(word, t)]
            if matched:
                found_ids |= _category_ids(category, children)
                terms += matched
        metals = []
        for value, label in Metal.choices:
            matched = [t for t in _words(label) if _similar(word, t)]
            if matched or _similar(word, value):
                metals.append(value)
                terms += matched
        stones = [v for v, label in Gemstone.choices if v and _similar(word, label.lower())]
        terms += stones
        exact = any(_stem(t) == _stem(word) for t in terms)
        # A real typo ("saphire") is also searched as the word it stands for, and the page says so.
        typos = () if exact else tuple(dict.fromkeys(terms))
        if typos:
            corrections.append((word, typos[0]))
        words.append(
            SearchWord(
                text=word,
                corrections=typos,
                category_ids=frozenset(found_ids),
                metals=tuple(metals),
                gemstones=tuple(stones),
            )
        )
    return SearchPlan(text=text, words=tuple(words), corrections=tuple(corrections))


def _has_variant_in(metals: tuple[str, ...]) -> Exists:
    return Exists(ProductVariant.objects.filter(product=OuterRef("pk"), is_active=True, metal__in=metals))


def _word_condition(word: SearchWord, *, postgres: bool) -> Q:
    if postgres:
        condition = Q()
        for form in word.text_forms:
            condition |= Q(search_document=SearchQuery(form, config=SEARCH_CONFIG, search_type="plain"))
        condition |= Q(name__trigram_strict_word_similar=word.text)
    else:
        condition = Q()
        # Words that start with the typed text: "rings" must not find "Earrings".
        for form in word.text_forms:
            for column in ("name", "description"):
                condition |= Q(**{f"{column}__istartswith": form}) | Q(**{f"{column}__icontains": f" {form}"})
    if word.gemstones and not postgres:  # on Postgres the stone is in the indexed document
        condition |= Q(gemstone__in=word.gemstones)
    if word.category_ids:
        condition |= Q(category_id__in=word.category_ids)
    if word.metals:
        condition |= _has_variant_in(word.metals)
    return condition


def search_products(queryset: QuerySet, *, text: str = "", plan: SearchPlan | None = None, rank: bool = False):
    """Products in ``queryset`` matching the query; with ``rank`` they are annotated ``search_rank``."""
    plan = plan or search_plan(text)
    if not plan.text:
        return queryset
    postgres = uses_full_text_search()
    if plan.websearch:
        query = SearchQuery(plan.text, config=SEARCH_CONFIG, search_type="websearch")
        queryset = queryset.alias(search_document=PRODUCT_SEARCH_DOCUMENT()).filter(search_document=query)
        if rank:
            queryset = queryset.annotate(search_rank=SearchRank(PRODUCT_SEARCH_DOCUMENT(), query))
        return queryset
    if not plan.words:
        # Only stop words or punctuation: nothing to look for.
        queryset = queryset.none()
        return queryset.annotate(search_rank=Value(0.0, output_field=FloatField())) if rank else queryset
    if postgres:
        queryset = queryset.alias(search_document=PRODUCT_SEARCH_DOCUMENT())
    for word in plan.words:
        queryset = queryset.filter(_word_condition(word, postgres=postgres))
    if rank and postgres:
        query = None
        for word in plan.words:
            for form in word.text_forms:
                part = SearchQuery(form, config=SEARCH_CONFIG, search_type="plain")
                query = part if query is None else query | part
        typed = " ".join(w.text for w in plan.words)
        queryset = queryset.annotate(
            search_rank=SearchRank(PRODUCT_SEARCH_DOCUMENT(), query)
            + Coalesce(TrigramStrictWordSimilarity(Value(typed), "name"), Value(0.0))
        )
    return queryset


def search_suggestions(text: str, *, categories: Iterable[Category] = (), extra_terms: Iterable[str] = ()) -> list[str]:
    """ "Did you mean" queries for an empty result page: each word replaced by its closest shop word."""
    vocabulary = {t for c in categories for t in _words(c.name)}
    vocabulary |= {t for _v, label in Metal.choices for t in _words(label)}
    vocabulary |= {label.lower() for v, label in Gemstone.choices if v}
    vocabulary |= {t for term in extra_terms for t in _words(term) if len(t) >= MIN_FUZZY_LENGTH}
    words = _words(clean_search_text(text))[:MAX_WORDS]
    fixed, changed = [], False
    for word in words:
        match = difflib.get_close_matches(word, sorted(vocabulary), n=1, cutoff=SUGGEST_RATIO)
        if match and match[0] != word:
            fixed.append(match[0])
            changed = True
        else:
            fixed.append(word)
    # The whole query corrected, when every word of it is a shop word (else it would find nothing either).
    suggestions = [" ".join(fixed)] if changed and all(w in vocabulary for w in fixed) else []
    # One word at a time too: "sapphire tiara" finds nothing, "sapphire" may.
    if len(words) > 1:
        suggestions += [w for w in fixed if w in vocabulary and w not in suggestions]
    return suggestions[:3]
