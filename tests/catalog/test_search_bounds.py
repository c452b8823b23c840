"""Search as a denial of service (issue #21): what one query may cost, and how often a client may ask.

An attacker sent ``-x0 -x1 … -x24`` (negations only: no index can serve it, so Postgres read and ranked
every product) and a different ``q`` each time (every one a listing-cache miss). The bounds, each tested
here on Postgres: a query needs a positive word; terms and ``or``s are capped; only the newest
SHOP_SEARCH_CANDIDATES matches are ranked, and every accepted query shape reads the GIN index (the plan's
node names, not its time); a search over SHOP_SEARCH_TIMEOUT_MS is cancelled into a "too broad" page; and
searches per client address are rate limited, over HTTP against gunicorn with production settings.
"""

from decimal import Decimal

import pytest
import requests
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from catalog.models import Category, Product, ProductVariant
from catalog.search import MAX_ORS, MAX_WORDS, NEGATIONS_ONLY, search_plan
from catalog.selectors import SORT_NEWEST, SORT_RELEVANCE, ProductFilters, product_list, search_limits
from catalog.views import TOO_BROAD
from tests.deploy.conftest import PROD_HOST, database_url, prod_env, prod_gunicorn, run_manage, strong_secret_key
from tests.factories import CategoryFactory, ProductFactory, ProductVariantFactory
from tests.servers import free_port

SHOP = reverse("catalog:product-list")
GIN = "catalog_product_search_gin"
NEGATIONS = " ".join(f"-x{i}" for i in range(25))  # the attacker's query


def piece(name: str, description: str = "Hand-finished.", **kwargs) -> Product:
    product = ProductFactory(name=name, description=description, **kwargs)
    ProductVariantFactory(product=product, price=Decimal("300.00"))
    return product


def pieces_in_bulk(count: int, *, description: str) -> None:
    """``count`` sellable rings in two statements (factories would take minutes)."""
    category = CategoryFactory(name="Rings", slug="rings")
    products = Product.objects.bulk_create(
        Product(
            name=f"Aurora Ring {i}",
            slug=f"aurora-ring-{i}",
            description=description,
            category=category,
            metal="yellow-gold",
            price_from=Decimal("300.00"),
            price_to=Decimal("300.00"),
        )
        for i in range(count)
    )
    ProductVariant.objects.bulk_create(
        ProductVariant(product=p, sku=f"AR-{p.pk}", metal="yellow-gold", price=Decimal("300.00"), stock=2)
        for p in products
    )


# --- What a query may ask ------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_search_of_negations_only_is_refused_with_a_message_and_runs_no_text_query(client):
    piece("Aurora Ring")
    piece("Celeste Pendant")
    with CaptureQueriesContext(connection) as queries:
        response = client.get(SHOP, {"q": NEGATIONS})
    assert response.status_code == 200
    assert NEGATIONS_ONLY in response.content.decode()
    assert response.context["result_count"] == 0
    # Refused before Postgres sees it: no query reads the full-text document at all.
    assert not [q["sql"] for q in queries.captured_queries if "to_tsvector" in q["sql"]]


@pytest.mark.django_db
def test_a_negation_after_a_word_is_still_a_search(client):
    piece("Gold Chain", "Solid yellow gold links.")
    piece("Silver Chain", "Sterling silver links.")
    response = client.get(SHOP, {"q": "chain -silver"})
    assert [p.name for p in response.context["products"]] == ["Gold Chain"]
    # A stop word is not a word to look for: "the -ring" is negations only for Postgres too.
    assert search_plan("the -ring").refused == NEGATIONS_ONLY


@pytest.mark.django_db
def test_terms_and_ors_are_capped_and_the_page_says_so(client):
    words = [f"word{i}" for i in range(12)]
    plan = search_plan("ring " + " ".join(f"-{w}" for w in words))
    assert len(plan.text.split()) == MAX_WORDS
    assert plan.notices
    plan = search_plan(" or ".join(words))
    assert plan.text.lower().split().count("or") == MAX_ORS
    assert len([t for t in plan.text.split() if t.lower() != "or"]) <= MAX_WORDS
    # Plain words too (the cap was silent before).
    assert len(search_plan(" ".join(words)).words) == MAX_WORDS
    piece("Aurora Ring")
    response = client.get(SHOP, {"q": "ring " + " ".join(f"-{w}" for w in words)})
    assert f"first {MAX_WORDS} words" in response.content.decode()
    assert [p.name for p in response.context["products"]] == ["Aurora Ring"]


# --- What a query may cost -----------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("sort", [SORT_NEWEST, SORT_RELEVANCE])
def test_only_the_newest_candidates_are_ranked_and_counted(client, settings, sort):
    settings.SHOP_SEARCH_CANDIDATES = 5
    made = [piece(f"Opal Ring {i}") for i in range(12)]
    response = client.get(SHOP, {"q": "opal", "sort": sort})
    assert response.context["result_count"] == 5
    assert {p.name for p in response.context["products"]} == {p.name for p in made[-5:]}
    response = client.get(SHOP, {"q": "opal -pendant", "sort": sort})  # the websearch shape too
    assert response.context["result_count"] == 5


SHAPES = ["ring", "gold", "aurora rings", "saphire", "ring -gold", '"aurora ring"', "ring or pendant or brooch"]


@pytest.mark.django_db
@pytest.mark.parametrize("text", SHAPES)
@pytest.mark.parametrize("sort", [SORT_NEWEST, SORT_RELEVANCE])
def test_every_accepted_query_shape_reads_the_gin_index_and_never_scans_the_document(text, sort):
    """The plan the shop runs (inside ``search_limits``, as the view does): the full-text document is
    matched only as an index condition (``Index Cond``/``Recheck Cond``), never as a row ``Filter``,
    which is what recomputing to_tsvector for every product looks like. Shop words (a category for
    "ring", a metal for "gold") were OR-ed in as row conditions before, which forced that scan."""
    pieces_in_bulk(300, description="A ring in yellow gold with a sapphire.")
    with connection.cursor() as cursor:
        # As in a shop that has been running: the index's pending list merged, statistics current.
        cursor.execute("SELECT gin_clean_pending_list(%s::regclass)", [GIN])
        cursor.execute("ANALYZE catalog_product")
        cursor.execute("ANALYZE catalog_productvariant")
    categories = list(Category.objects.all())
    queryset = product_list(filters=ProductFilters(q=text, sort=sort), search=search_plan(text, categories=categories))
    with search_limits():
        plan = queryset[:24].explain()
    assert f"Bitmap Index Scan on {GIN}" in plan, plan
    filters = [line for line in plan.splitlines() if "Filter:" in line and "to_tsvector" in line]
    assert not filters, plan


@pytest.mark.django_db(transaction=True)
def test_a_search_over_the_time_limit_shows_the_too_broad_page_not_a_500(client, settings):
    """1 ms against ranking 1,500 long descriptions (to_tsvector over each, tens of ms on any machine):
    Postgres cancels the statement and the shopper gets the page with a request for fewer words."""
    settings.SHOP_SEARCH_TIMEOUT_MS = 1
    settings.SHOP_SEARCH_CANDIDATES = 100_000
    pieces_in_bulk(1500, description="A yellow gold ring, hand-finished in our workshop. " * 40)
    response = client.get(SHOP, {"q": "ring", "sort": SORT_RELEVANCE})
    assert response.status_code == 200
    assert TOO_BROAD in response.content.decode()
    assert response.context["result_count"] == 0
    # The limit was this transaction's only: the next pages of the same connection are unbounded.
    assert client.get(SHOP).context["result_count"] == 1500
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] == "0"
    # With room to run, the same search answers.
    settings.SHOP_SEARCH_TIMEOUT_MS = 60_000
    assert client.get(SHOP, {"q": "ring", "sort": SORT_RELEVANCE}).context["result_count"] == 1500


# --- How often a client may ask (over HTTP) ------------------------------------------------------

EDGE, BALANCER = "130.176.9.1", "172.26.3.4"  # what CloudFront and the load balancer append


@pytest.fixture(scope="module")
def shop_server(django_db_setup, django_db_blocker, tmp_path_factory):
    """gunicorn with production settings on pytest's database: ONE worker, so its per-process counter
    (locmem here; the shared atomic cache in production) sees every request; 3 searches an hour."""
    with django_db_blocker.unblock():
        name = connection.settings_dict["NAME"]
    tmp = tmp_path_factory.mktemp("search-limit")
    env = prod_env(
        database_url=database_url(name),
        DJANGO_SECRET_KEY=strong_secret_key(),
        DJANGO_ALLOWED_HOSTS=PROD_HOST,
        DJANGO_STATIC_ROOT=str(tmp / "static"),
        DJANGO_SHOP_SEARCH_RATE_PER_IP="3/h",  # per hour: a test never straddles the counter's window
        GUNICORN_BIND=f"127.0.0.1:{free_port()}",
        GUNICORN_WORKERS="1",
    )
    collected = run_manage("collectstatic", "--noinput", "-v0", env=env)
    assert collected.returncode == 0, collected.stderr
    with prod_gunicorn(env, tmp) as server:
        yield server.url


def shop_get(base: str, address: str, query: dict) -> requests.Response:
    headers = {"Host": PROD_HOST, "X-Forwarded-Proto": "https", "X-Forwarded-For": f"{address}, {EDGE}, {BALANCER}"}
    return requests.get(base + SHOP, params=query, headers=headers, allow_redirects=False, timeout=60)


@pytest.mark.django_db(transaction=True)
def test_searches_are_limited_per_client_address_with_a_friendly_429(shop_server):
    statuses = [shop_get(shop_server, "198.51.100.20", {"q": f"ring {n}"}).status_code for n in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = shop_get(shop_server, "198.51.100.20", {"q": "pendant"})
    assert limited.status_code == 429
    assert limited.headers["Retry-After"]
    assert "Too many searches in a short time" in limited.text
    # The shop itself stays open to that address, and other addresses search on.
    assert shop_get(shop_server, "198.51.100.20", {}).status_code == 200
    assert shop_get(shop_server, "198.51.100.20", {"metal": "platinum"}).status_code == 200
    assert shop_get(shop_server, "203.0.113.5", {"q": "ring"}).status_code == 200
