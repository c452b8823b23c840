"""The shop under production settings in a real gunicorn (deploy/gunicorn.conf.py), secrets from moto.

One server per module: two workers, preloaded, reading DB_PASSWORD and APP_CONFIG from the moto
server and serving the pytest database. Every page type must carry the full security header set.
"""

import pytest
import requests
from django.urls import reverse

from tests.deploy.conftest import (
    PROD_HOST,
    database_url,
    json_lines,
    pg_env,
    prod_env,
    prod_gunicorn,
    prod_gunicorn_with_secrets,
    strong_secret_key,
)
from tests.factories import ProductVariantFactory
from tests.servers import free_port, wait_until

CDN = "d1111abcdef8.cloudfront.net"
PROBE_IP = "172.26.9.10"  # the load balancer probes the instance by private IP


@pytest.fixture(scope="module")
def prod_server(moto_server, test_database, tmp_path_factory):
    with prod_gunicorn_with_secrets(
        moto=moto_server,
        database=test_database,
        tmp=tmp_path_factory.mktemp("prod-server"),
        app_config={"CLOUDFRONT_DOMAIN": CDN},
        db_password="rotated-1",
        workers=2,
    ) as server:
        yield server


def csp_directives(header: str) -> dict[str, list[str]]:
    directives = {}
    for part in header.split(";"):
        name, *sources = part.split()
        directives[name] = sources
    return directives


def assert_security_headers(response: requests.Response) -> None:
    headers = response.headers
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert "camera=()" in headers["Permissions-Policy"]
    assert "geolocation=()" in headers["Permissions-Policy"]
    csp = csp_directives(headers["Content-Security-Policy"])
    assert csp["default-src"] == ["'self'"]
    assert "'self'" in csp["script-src"]
    assert "'unsafe-inline'" not in csp["script-src"]
    assert "'unsafe-eval'" not in csp["script-src"]
    assert csp["style-src"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["object-src"] == ["'none'"]
    assert f"https://{CDN}" in csp["img-src"]
    assert headers["X-Request-ID"]


@pytest.mark.django_db(transaction=True)
def test_every_page_type_sends_the_full_header_set(prod_server):
    variant = ProductVariantFactory()
    pages = {
        reverse("catalog:home"): {200},
        reverse("catalog:product-list"): {200},
        reverse("catalog:product-detail", kwargs={"slug": variant.product.slug}): {200},
        reverse("cart:detail"): {200},
        reverse("orders:checkout"): {302},  # an empty bag is sent back to the bag (asserted below)
        reverse("accounts:login"): {200},
        "/no-such-page/": {404},
    }
    for path, statuses in pages.items():
        response = prod_server.get(path)
        assert response.status_code in statuses, (path, response.status_code)
        assert_security_headers(response)
        if path == reverse("orders:checkout"):
            assert response.headers["Location"] == reverse("cart:detail")


def test_cookies_are_host_prefixed_and_secure(prod_server):
    response = prod_server.get(reverse("accounts:login"))
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("__Host-csrftoken=")
    attributes = [a.strip().lower() for a in cookie.split(";")]
    assert "secure" in attributes
    assert "path=/" in attributes
    assert not any(a.startswith("domain=") for a in attributes)


def test_plain_http_is_redirected_but_probes_answer_by_ip(prod_server):
    redirect = prod_server.get("/shop/", https=False)
    assert redirect.status_code == 301
    assert redirect.headers["Location"] == f"https://{PROD_HOST}/shop/"
    healthz = prod_server.get("/healthz", https=False, host=PROBE_IP)
    readyz = prod_server.get("/readyz", https=False, host=PROBE_IP)
    assert (healthz.status_code, healthz.json()) == (200, {"status": "ok"})
    assert readyz.status_code == 200
    assert readyz.json()["database"] == "ok"
    # Any other path by IP is still refused by the Host check.
    assert prod_server.get("/shop/", host=PROBE_IP).status_code == 400


def test_logs_are_json_secrets_fetched_once_and_probes_quiet(prod_server):
    shop = prod_server.get("/shop/")
    assert shop.status_code == 200
    probe = prod_server.get("/healthz", https=False, host=PROBE_IP)
    assert probe.status_code == 200
    # The app's own ids (issue #21: a client's X-Request-ID is never taken as ours).
    shop_id, probe_id = shop.headers["X-Request-ID"], probe.headers["X-Request-ID"]

    def access_lines() -> list[dict]:
        return [line for line in json_lines(prod_server.stdout.read_text()) if line.get("request_id") == shop_id]

    # gunicorn writes its access line just after the response is sent: wait for it, bounded.
    wait_until(lambda: len(access_lines()) == 2, timeout=10, what="both access lines")
    server_line, app_line = sorted(access_lines(), key=lambda line: line["logger"])
    assert server_line["logger"] == "gunicorn.access"
    assert (server_line["method"], server_line["path"], server_line["status"]) == ("GET", "/shop/", 200)
    assert app_line["logger"] == "shop.access"
    assert app_line["status"] == 200
    assert app_line["duration_ms"] >= 0

    stdout = json_lines(prod_server.stdout.read_text())  # every line parses as JSON
    stderr = json_lines(prod_server.stderr.read_text())
    # Preloaded: the master fetched the secrets once; two workers forked without fetching again.
    assert sum(line.get("event") == "secrets_loaded" for line in stdout) == 1
    assert sum("Booting worker" in line["message"] for line in stderr) == 2
    assert not [line for line in stdout if line.get("request_id") == probe_id and line["level"] == "INFO"]
    everything = prod_server.stdout.read_text() + prod_server.stderr.read_text()
    assert prod_server.secret_key not in everything
    assert "rotated-1" not in everything


def test_readyz_503_when_database_is_down(tmp_path):
    """A real gunicorn whose database port is closed: /readyz says 503 fast, /healthz stays 200."""
    env = prod_env(
        database_url=database_url("jewelry").replace(f":{pg_env()['PGPORT']}/", f":{free_port()}/", 1),
        DJANGO_SECRET_KEY=strong_secret_key(),
        DJANGO_ALLOWED_HOSTS=PROD_HOST,
        DJANGO_STATIC_ROOT=str(tmp_path / "static"),
        GUNICORN_BIND=f"127.0.0.1:{free_port()}",
        GUNICORN_WORKERS="1",
    )
    with prod_gunicorn(env, tmp_path) as server:
        readyz = server.get("/readyz", https=False, host=PROBE_IP)
        assert readyz.status_code == 503
        assert readyz.json() == {"status": "unavailable", "database": "error"}
        # A loose bound, with its reason: a closed port is refused at once, so the only way to take 5 s
        # is to wait out the database connect timeout (prod's default, 5 s), i.e. a probe that hangs.
        assert readyz.elapsed.total_seconds() < 5
        assert server.get("/healthz", https=False, host=PROBE_IP).status_code == 200
    events = [line for line in json_lines(server.stdout.read_text()) if line.get("event") == "readyz_failed"]
    assert events
    assert events[0]["error"] == "OperationalError"
