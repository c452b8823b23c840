"""Issue 21: rate-limit counters that hold under parallel requests (django-ratelimit, alias "ratelimit").

Before: the counters lived in production's database cache, whose increment reads the count and then
writes it plus one, so requests arriving together read the same count: 30 parallel sign-ups against a
limit of 10 let 11 through, and django-ratelimit's own check (E003) never ran because the app was not
installed. Now the counters live in Redis when DJANGO_CACHE_URL names one (django-redis), else in the
shop's database counters (jewelry_site/ratelimit_cache.py, one UPSERT per count).

The bursts below are real: threads released together against the sign-up view on Postgres, and real
gunicorn workers under production settings over HTTP. To make the old cache's lost update certain
rather than likely, one burst is held at the counter table by a SHARE lock (writes wait, reads do not)
until every request waits on it, then released at once: the old cache's requests have all read the same
count by then; the new counters' requests queue on the row and each sees its own total.
"""

import concurrent.futures
import json

import pytest
from django.core import checks
from django.core.cache import caches
from django.core.management import call_command
from django.db import connection, transaction
from django.test import Client
from django.urls import reverse

from jewelry_site.ratelimit_cache import DatabaseCounterCache
from tests.accounts.conftest import apply_sign_in_env
from tests.deploy.conftest import PROD_HOST, database_url, prod_env, prod_gunicorn, run_manage, strong_secret_key
from tests.orders.test_holds_http import Shopper
from tests.servers import free_port, redis_running, wait_until
from tests.threads import run_together

pytestmark = pytest.mark.django_db(transaction=True)

LIMIT, BURST = 10, 30
ADDRESS = "198.51.100.21"
PASSWORD = "a brand-new passphrase 42"
OLD_TABLE = "shop_ratelimit_old_cache"
COUNTER_TABLE = "shop_ratelimit_counter"

DATABASE_COUNTERS = {"BACKEND": "jewelry_site.ratelimit_cache.DatabaseCounterCache"}
OLD_DATABASE_CACHE = {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": OLD_TABLE}


@pytest.fixture(scope="module")
def redis_url():
    """A throwaway redis-server on loopback for this module (nothing saved), stopped by its PID."""
    with redis_running() as url:
        yield url


def redis_cache(url: str) -> dict:
    """What prod.py makes of DJANGO_CACHE_URL=redis://...: django-redis under the "ratelimit" prefix."""
    return {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": url, "KEY_PREFIX": "ratelimit"}


@pytest.fixture
def limited(settings, monkeypatch):
    """Password sign-up (no provider) limited to 10 POSTs an hour per client address (behind nginx: one hop)."""
    apply_sign_in_env(settings, monkeypatch, {})
    settings.SHOP_TRUSTED_PROXY_HOPS = 1
    settings.SHOP_ACCOUNT_RATE_PER_IP = f"{LIMIT}/h"

    def use(cache: dict) -> None:
        settings.CACHES = {**settings.CACHES, "ratelimit": cache}
        if cache is OLD_DATABASE_CACHE:
            call_command("createcachetable", verbosity=0)
        caches["ratelimit"].clear()

    return use


def sign_up(n: int) -> int:
    data = {"email": f"burst{n}@example.com", "first_name": "A", "last_name": "B", "password1": PASSWORD}
    client = Client(HTTP_X_FORWARDED_FOR=ADDRESS)
    return client.post(reverse("accounts:sign-up"), {**data, "password2": PASSWORD}).status_code


def let_through(statuses: list) -> int:
    assert not [s for s in statuses if isinstance(s, BaseException)], statuses
    assert set(statuses) <= {302, 200, 429}, statuses
    return sum(1 for s in statuses if s != 429)


def waiting_on(table: str) -> int:
    """Backends waiting for a lock on ``table`` (pg_locks is read afresh by every query)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE relation = %s::regclass AND NOT granted", [table])
        return cursor.fetchone()[0]


def burst_held_at(table: str) -> int:
    """One sign-up, then 29 at once held at ``table`` until all 29 wait on it; how many got through."""
    first = sign_up(0)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(f"LOCK TABLE {connection.ops.quote_name(table)} IN SHARE MODE")
            running = pool.submit(run_together, [lambda n=n: sign_up(n) for n in range(1, BURST)], what="a sign-up")
            wait_until(lambda: waiting_on(table) == BURST - 1, timeout=60, what=f"{BURST - 1} sign-ups at {table}")
        statuses = running.result(timeout=180)
    return let_through([first, *statuses])


# --- in-process bursts against the view (threads, Postgres) ----------------------------------------------


@pytest.mark.parametrize("backend", ["redis", "database_counters"])
def test_thirty_parallel_sign_ups_against_a_limit_of_ten_let_exactly_ten_through(limited, redis_url, backend):
    limited(redis_cache(redis_url) if backend == "redis" else DATABASE_COUNTERS)
    statuses = run_together([lambda n=n: sign_up(n) for n in range(BURST)], what="a sign-up")
    assert let_through(statuses) == LIMIT


def test_the_old_database_cache_lets_a_held_burst_past_the_limit(limited):
    """Negative control: Django's DatabaseCache, as production had it. Every request of the burst reads
    the count before any writes it back, so all 30 get through a limit of 10."""
    limited(OLD_DATABASE_CACHE)
    assert burst_held_at(OLD_TABLE) == BURST


def test_the_database_counters_hold_the_same_held_burst_to_the_limit(limited):
    limited(DATABASE_COUNTERS)
    assert burst_held_at(COUNTER_TABLE) == LIMIT


# --- the counter store itself -----------------------------------------------------------------------------


def test_the_database_counters_add_incr_and_expire_like_a_cache(monkeypatch):
    cache = DatabaseCounterCache("", {})
    assert cache.add("k", 1, 60) is True
    assert cache.add("k", 1, 60) is False  # a live counter is not restarted
    assert [cache.incr("k"), cache.incr("k", 5), cache.get("k")] == [2, 7, 7]
    with pytest.raises(ValueError, match="not found"):
        cache.incr("missing")
    with pytest.raises(TypeError, match="stores counts"):
        cache.set("k", "7")
    cache.set("gone", 3, 0)  # timeout 0: expired at once, so absent, and add may start it again
    assert cache.get("gone", "default") == "default"
    assert cache.add("gone", 1, 60) is True
    assert cache.get("gone") == 1
    assert cache.touch("k", 60) is True
    assert cache.delete("k") is True
    assert cache.get("k") is None


# --- django-ratelimit's checks run, and production refuses a cache that is not atomic ---------------------


def test_django_ratelimits_own_check_now_runs_and_refuses_the_database_cache(settings):
    """Before issue 21 django_ratelimit was not an installed app: E003 never ran, whatever the cache."""
    settings.CACHES = {**settings.CACHES, "ratelimit": OLD_DATABASE_CACHE}
    ids = {message.id for message in checks.run_checks(tags=[checks.Tags.caches], include_deployment_checks=True)}
    assert {"django_ratelimit.E003", "jewelry_site.E230"} <= ids
    settings.CACHES = {**settings.CACHES, "ratelimit": DATABASE_COUNTERS}
    ids = {message.id for message in checks.run_checks(tags=[checks.Tags.caches], include_deployment_checks=True)}
    assert not ids & {"django_ratelimit.E003", "jewelry_site.E230"}


def prod_cache_settings(env: dict) -> dict:
    script = "import json; from django.conf import settings as s; print(json.dumps(s.CACHES['ratelimit']))"
    result = run_manage("shell", "-c", script, env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_counts_in_redis_when_there_is_one_else_in_the_database_and_check_deploy_is_clean(redis_url):
    base = {
        "database_url": database_url(connection.settings_dict["NAME"]),
        "DJANGO_SECRET_KEY": strong_secret_key(),
        "DJANGO_ALLOWED_HOSTS": PROD_HOST,
        "DJANGO_ORIGIN_VERIFY_SECRET": "origin-verify-value-from-the-stack",
    }
    with_redis = prod_env(**base, DJANGO_CACHE_URL=redis_url)
    assert prod_cache_settings(with_redis)["BACKEND"] == "django_redis.cache.RedisCache"
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=with_redis)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout

    # The AWS stack has no Redis: the database cache by default, and the database counters for the limits.
    without = prod_env(**base, DJANGO_CACHE_URL="dbcache://django_cache")
    assert prod_cache_settings(without) == DATABASE_COUNTERS
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=without)
    assert result.returncode == 0, result.stdout + result.stderr
    # django-ratelimit's W001 ("not on its list") is the one silenced: E230 above stands in for it.
    assert "System check identified no issues (1 silenced)." in result.stdout


# --- over HTTP: gunicorn's workers under production settings ----------------------------------------------


@pytest.fixture(scope="module", params=["redis", "no_redis"])
def prod_shop(request, django_db_setup, django_db_blocker, tmp_path_factory, redis_url):
    """The shop in gunicorn (three workers, production settings) on pytest's database, sign-up limited to
    10 an hour per address; with Redis, or as the AWS stack runs it (database cache, no Redis)."""
    with django_db_blocker.unblock():
        name = connection.settings_dict["NAME"]
    tmp = tmp_path_factory.mktemp(f"ratelimit-{request.param}")
    env = prod_env(
        database_url=database_url(name),
        DJANGO_SECRET_KEY=strong_secret_key(),
        DJANGO_ALLOWED_HOSTS=PROD_HOST,
        DJANGO_STATIC_ROOT=str(tmp / "static"),
        DJANGO_CACHE_URL=redis_url if request.param == "redis" else "dbcache://django_cache",
        DJANGO_SHOP_ACCOUNT_RATE_PER_IP=f"{LIMIT}/h",
        GUNICORN_BIND=f"127.0.0.1:{free_port()}",
        GUNICORN_WORKERS="3",
    )
    for command in (["collectstatic", "--noinput", "-v0"], ["createcachetable"]):
        done = run_manage(*command, env=env)
        assert done.returncode == 0, done.stderr
    with prod_gunicorn(env, tmp) as server:
        yield server.url


def test_thirty_parallel_sign_ups_over_http_let_exactly_ten_through(prod_shop):
    shoppers = []
    for n in range(BURST):
        shopper = Shopper(prod_shop, f"203.0.113.{n + 1}")  # the form pages from anywhere: GETs are not limited
        assert shopper.request("GET", "/account/sign-up/").status_code == 200
        shopper.address = "203.0.113.210"  # the POSTs all from one address
        shoppers.append(shopper)
    form = {"first_name": "A", "last_name": "B", "password1": PASSWORD, "password2": PASSWORD}

    def post(n: int) -> int:
        return shoppers[n].request("POST", "/account/sign-up/", {**form, "email": f"http{n}@example.com"}).status_code

    statuses = run_together([lambda n=n: post(n) for n in range(BURST)], what="an HTTP sign-up")
    print(f"\n[{BURST} sign-ups at once, limit {LIMIT}] {sorted(statuses)}")
    assert let_through(statuses) == LIMIT
