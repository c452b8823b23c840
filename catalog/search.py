"""Keyword search over products.

On Postgres the text search document is *exactly* the expression of the GIN index that
migration 0002 creates, so the planner can use the index; on SQLite (``make run``) a plain
``icontains`` match stands in.
"""

from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVectorField
from django.db import connection
from django.db.models import F, Func, Q, QuerySet

SEARCH_CONFIG = "english"
# Longer queries are cut here: enough for any real search, small enough to bound the work.
QUERY_MAX_LENGTH = 100
_SQLITE_MAX_WORDS = 8


class ProductSearchDocument(Func):
    """``to_tsvector('english'::regconfig, name || ' ' || description)``, the indexed expression.

    Written out literally (not ``SearchVector``, which adds COALESCE and a bound config
    parameter) because Postgres only uses an expression index for an identical expression.
    """

    template = "to_tsvector('english'::regconfig, %(expressions)s)"
    arg_joiner = " || ' ' || "
    output_field = SearchVectorField()

    def __init__(self) -> None:
        super().__init__(F("name"), F("description"))


PRODUCT_SEARCH_DOCUMENT = ProductSearchDocument


def clean_search_text(text: str) -> str:
    """Bound the length and drop NUL bytes (Postgres rejects them in text)."""
    return " ".join(text.replace("\x00", " ").split())[:QUERY_MAX_LENGTH].strip()


def uses_full_text_search() -> bool:
    return connection.vendor == "postgresql"


def search_products(queryset: QuerySet, *, text: str, rank: bool = False) -> QuerySet:
    """Products in ``queryset`` matching ``text``; with ``rank`` they are annotated ``search_rank``."""
    text = clean_search_text(text)
    if not text:
        return queryset
    if not uses_full_text_search():
        return _search_with_icontains(queryset, text=text)
    query = SearchQuery(text, config=SEARCH_CONFIG, search_type="websearch")
    queryset = queryset.alias(search_document=PRODUCT_SEARCH_DOCUMENT()).filter(search_document=query)
    if rank:
        queryset = queryset.annotate(search_rank=SearchRank(PRODUCT_SEARCH_DOCUMENT(), query))
    return queryset


def _search_with_icontains(queryset: QuerySet, *, text: str) -> QuerySet:
    # Every word must appear in the name or the description, like a websearch AND.
    for word in text.split()[:_SQLITE_MAX_WORDS]:
        queryset = queryset.filter(Q(name__icontains=word) | Q(description__icontains=word))
    return queryset
