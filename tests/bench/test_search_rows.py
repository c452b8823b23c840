"""The search rows of the benchmark (issue #21, bench/rows.py) at small scale: every attack path is a
different search (a listing-cache miss each), of the shapes the issue named, and the shop answers each
with a page, not an error (the bench prints the figures; only counts are asserted here)."""

from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest

from bench.rows import attack_paths
from catalog.search import NEGATIONS_ONLY
from tests.factories import ProductFactory, ProductVariantFactory


@pytest.mark.django_db
def test_attack_paths_are_different_searches_the_shop_answers_without_an_error(client):
    for name in ("Aurora Ring", "Celeste Sapphire Pendant", "Gold Band"):
        ProductVariantFactory(product=ProductFactory(name=name), price=Decimal("300.00"))
    paths = attack_paths(8)
    queries = [parse_qs(urlsplit(p).query)["q"][0] for p in paths]
    assert len(set(queries)) == 8
    assert all(len(q.split()) == 25 and all(w.startswith("-") for w in q.split()) for q in queries[::4])
    refused = 0
    for path in paths:
        response = client.get(path)
        assert response.status_code == 200
        refused += NEGATIONS_ONLY in response.content.decode()
    assert refused == 2  # the two negations-only searches, refused with the message
    assert attack_paths(4, start=4) == paths[4:]
