"""Keyword search over products, forgiving of typos and of shop words (categories, metals, stones).

Each word of a plain query must match the product in one of these ways (a websearch AND):
- its text: Postgres full-text search over *exactly* the expression of the GIN index that migration
  0005 creates (name, description, main metal and stone), so the planner can use the index;
- a typo of a word of its name: pg_trgm strict word similarity (the trigram index of migration 0005);
- a shop word, matched in Python against a small vocabulary (category names, metal and stone labels),
  typos included ("saphire", "engagment"): the product's category (or a sub-category), a metal any of
  its active variants is sold in, or its stone.
A query written with websearch syntax (quotes, ``-word``, ``or``) is passed to Postgres as typed, once
it has a word to look for (only ``-word``s would make Postgres read and rank every product) and at most
``MAX_WORDS`` terms and ``MAX_ORS`` ``or``s (the rest is dropped and the page says so).
On SQLite (``make run``) ``icontains`` on the same words stands in for both text matches.

Bounded work (issue #21): every text condition is an ``id IN (...)`` over one index (the GIN full-text
or trigram index, the category or variant tables), never the to_tsvector expression computed row by
row; at most ``SHOP_SEARCH_CANDIDATES`` matches (the newest) are kept, and only those are ranked.
"""

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.postgres.search import (
    SearchQuery,
    SearchRank,
    SearchVectorField,
    TrigramStrictWordSimilarity,
)
from django.db import connection
from django.db.models import F, FloatField, Func, Q, QuerySet, Value
from django.db.models.functions import Coalesce

from .models import Category, Gemstone, Metal, Product, ProductVariant

SEARCH_CONFIG = "english"
# Longer queries are cut here: enough for any real search, small enough to bound the work.
QUERY_MAX_LENGTH = 100
MAX_WORDS = 8
# ``or``s in one websearch query: each one is another index scan and union.
MAX_ORS = 3
# difflib ratio from which a typed word counts as a shop word ("saphire" ~ "sapphire" is 0.93,
# "ring" ~ "earring" only 0.73, so rings never find earrings).
TYPO_RATIO = 0.8
# Lower bar for the "Did you mean" suggestion on an empty result page.
SUGGEST_RATIO = 0.6
MIN_FUZZY_LENGTH = 4
_STOP_WORDS = frozenset({"a", "an", "and", "the", "of", "in", "with", "for", "to", "on", "my", "her", "his"})
_WEBSEARCH_SYNTAX = re.compile(r'"|(?:^|\s)-\S|(?:^|\s)or(?:\s|$)', re.IGNORECASE)
_WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*")
# websearch_to_tsquery's tokens: a quoted phrase (maybe negated, maybe unclosed), "or", or a word.
_WEBSEARCH_TOKEN = re.compile(r'-?"[^"]*"?|\S+')
NEGATIONS_ONLY = (
    "Tell us what to look for: a search needs at least one word without a minus sign (for example “ring -gold”)."
)


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
    refused: str = ""  # why nothing is searched (shown on the page); the query is never run
    notices: tuple[str, ...] = ()  # what was dropped from the query, for the page


def _websearch_bounded(text: str) -> SearchPlan:
    """``text`` for websearch_to_tsquery with at most ``MAX_WORDS`` terms and ``MAX_ORS`` ``or``s, or
    refused when no term is a word to look for (negations only cannot use the index)."""
    kept: list[str] = []
    terms = ors = 0
    positive = dropped = False
    for token in _WEBSEARCH_TOKEN.findall(text):
        if token.lower() == "or":
            if ors >= MAX_ORS or not kept:
                dropped = dropped or ors >= MAX_ORS
                continue
            ors += 1
            kept.append(token)
            continue
        if terms >= MAX_WORDS:
            dropped = True
            continue
        terms += 1
        kept.append(token)
        # A term without a minus and with a word that is not a stop word gives Postgres something to find.
        positive = positive or (not token.startswith("-") and bool(_words(token)))
    while kept and kept[-1].lower() == "or":
        kept.pop()
    if not positive:
        return SearchPlan(text=text, websearch=True, refused=NEGATIONS_ONLY)
    bounded = " ".join(kept)
    notices = (f"We searched for the first {MAX_WORDS} words and {MAX_ORS} “or”s only.",) if dropped else ()
    return SearchPlan(text=bounded, websearch=True, notices=notices)


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
        return _websearch_bounded(text)
    categories = list(categories)
    children: dict[int, list[int]] = {}
    for c in categories:
        if c.parent_id is not None:
            children.setdefault(c.parent_id, []).append(c.pk)
    words, corrections = [], []
    typed = _words(text)
    for word in typed[:MAX_WORDS]:
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
    notices = (f"We searched for the first {MAX_WORDS} words only.",) if len(typed) > MAX_WORDS else ()
    return SearchPlan(text=text, words=tuple(words), corrections=tuple(corrections), notices=notices)


def _products() -> QuerySet:
    # The bare table, not a listing queryset: these subqueries select ids only.
    return Product.objects.order_by()


# A LIMIT far above any catalogue: it only keeps Postgres from merging the id subquery into the outer
# query. Merged (a semi-join), the planner may look each candidate up by id and recompute its
# to_tsvector there (62 ms for "ring -x1" at 10,000 products) instead of reading the GIN index once.
_ID_SET_FENCE = 1_000_000


def _text_match_ids(query: SearchQuery) -> QuerySet:
    """Ids of products whose indexed document matches: a GIN index scan, whatever else is filtered."""
    matches = _products().alias(search_document=PRODUCT_SEARCH_DOCUMENT()).filter(search_document=query)
    return matches.values("pk")[:_ID_SET_FENCE]


def _word_condition(word: SearchWord, *, postgres: bool) -> Q:
    if postgres:
        query = None
        for form in word.text_forms:
            part = SearchQuery(form, config=SEARCH_CONFIG, search_type="plain")
            query = part if query is None else query | part
        # Each alternative an uncorrelated id set read through its own index (Postgres hashes each one
        # once): an OR of row conditions would make it compute to_tsvector for every product instead.
        condition = Q(pk__in=_text_match_ids(query))
        # Typos by trigram only from 5 letters: a 4-letter typo shares too few trigrams to pass the
        # similarity bar anyway, and "ring" alone made the index recheck 15,000 rows (37 ms at 10,000).
        if len(word.text) > MIN_FUZZY_LENGTH:
            trigram = _products().filter(name__trigram_strict_word_similar=word.text).values("pk")
            condition |= Q(pk__in=trigram[:_ID_SET_FENCE])
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
        variants = ProductVariant.objects.filter(is_active=True, metal__in=word.metals).order_by()
        condition |= Q(pk__in=variants.values("product_id"))
    return condition


def candidate_limit() -> int:
    return settings.SHOP_SEARCH_CANDIDATES


def _bounded(queryset: QuerySet, condition: Q) -> QuerySet:
    """``queryset`` narrowed to its newest ``SHOP_SEARCH_CANDIDATES`` products matching ``condition``:
    ranking, counting and sorting then touch that many rows at most, however broad the words."""
    candidates = queryset.filter(condition).order_by("-created_at", "-pk").values("pk")[: candidate_limit()]
    return queryset.filter(pk__in=candidates)


def search_products(queryset: QuerySet, *, text: str = "", plan: SearchPlan | None = None, rank: bool = False):
    """Products in ``queryset`` matching the query; with ``rank`` they are annotated ``search_rank``."""
    plan = plan or search_plan(text)
    if not plan.text and not plan.refused:
        return queryset
    postgres = uses_full_text_search()
    if plan.refused or (not plan.websearch and not plan.words):
        # Refused, or only stop words or punctuation: nothing to look for, no query to run.
        queryset = queryset.none()
        return queryset.annotate(search_rank=Value(0.0, output_field=FloatField())) if rank else queryset
    if plan.websearch:
        query = SearchQuery(plan.text, config=SEARCH_CONFIG, search_type="websearch")
        queryset = _bounded(queryset, Q(pk__in=_text_match_ids(query)))
        if rank:
            queryset = queryset.annotate(search_rank=SearchRank(PRODUCT_SEARCH_DOCUMENT(), query))
        return queryset
    condition = Q()
    for word in plan.words:
        condition &= _word_condition(word, postgres=postgres)
    queryset = _bounded(queryset, condition)
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
