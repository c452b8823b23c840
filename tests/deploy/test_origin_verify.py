"""The origin answers only what came through CloudFront (X-Origin-Verify), and reads the client's address
from the right hop of the CloudFront -> load balancer -> nginx chain (jewelry_site/client_address.py).

The in-process tests drive the real middleware stack through Django's test client; the last one runs
the shop under production settings in a real gunicorn with the secret in APP_CONFIG (moto). What no test
here covers: CloudFront and the Lightsail load balancer themselves (their header behaviour is AWS's,
documented in client_address.py); the template's side is asserted in test_cloudformation.py.
"""

import json
import re
import subprocess

import pytest
import requests
from django.test import Client
from django.urls import reverse

from cart.models import Cart
from jewelry_site.client_address import client_ip
from tests.deploy.conftest import (
    PROD_HOST,
    PYTHON,
    REPO,
    json_lines,
    prod_env,
    prod_gunicorn_with_secrets,
    strong_secret_key,
)
from tests.factories import ProductVariantFactory
from tests.servers import free_port, port_open, stop, wait_until

SECRET = "cf-origin-3b7e1c0d9a8f4e2b"
OLD_SECRET = "cf-origin-previous-value-1"
# Two entries the client wrote itself, the viewer (added by CloudFront), CloudFront's edge (added by the
# load balancer), the load balancer's private address (added by nginx).
CHAIN = "6.6.6.6, 198.51.100.1, 203.0.113.7, 130.176.12.34, 172.26.4.5"


@pytest.fixture
def origin_secret(settings):
    settings.SHOP_ORIGIN_VERIFY_SECRET = SECRET
    settings.SHOP_ORIGIN_VERIFY_SECRET_FALLBACKS = []
    settings.SHOP_TRUSTED_PROXY_HOPS = 3
    return settings


def events(json_log, name):
    return [line for line in json_log() if line.get("event") == name]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing"),
        ({"HTTP_X_ORIGIN_VERIFY": ""}, "mismatch"),
        ({"HTTP_X_ORIGIN_VERIFY": SECRET[:-1]}, "mismatch"),  # a prefix of the real value
        ({"HTTP_X_ORIGIN_VERIFY": SECRET + "x"}, "mismatch"),  # the real value and more
        ({"HTTP_X_ORIGIN_VERIFY": SECRET.upper()}, "mismatch"),
        ({"HTTP_X_ORIGIN_VERIFY": f"{SECRET}, {SECRET}"}, "mismatch"),  # a repeated header, joined
        ({"HTTP_X_ORIGIN_VERIFY": "caf\u00e9-\udcff"}, "mismatch"),  # not ASCII, not even valid UTF-8
    ],
)
def test_requests_without_the_right_header_are_refused_and_the_value_is_never_logged(
    origin_secret, json_log, headers, reason
):
    response = Client().get("/", HTTP_X_FORWARDED_FOR=CHAIN, **headers)
    assert response.status_code == 403
    assert response.content == b"Forbidden"
    (event,) = events(json_log, "origin_verify_failed")
    assert event["reason"] == reason
    assert event["client_ip"] == "203.0.113.7"
    logged = json.dumps(json_log())
    assert SECRET[:8] not in logged
    sent = headers.get("HTTP_X_ORIGIN_VERIFY")
    if sent:
        assert sent not in logged


@pytest.mark.django_db
def test_a_post_without_the_header_changes_nothing(origin_secret):
    variant = ProductVariantFactory()
    form = {"variant": str(variant.pk), "quantity": "1"}
    # The test client skips CSRF, so only the origin check stands between this POST and a new cart.
    assert Client().post(reverse("cart:add"), form).status_code == 403
    assert not Cart.objects.exists()
    assert Client().post(reverse("cart:add"), form, HTTP_X_ORIGIN_VERIFY=SECRET).status_code == 302
    assert Cart.objects.count() == 1


@pytest.mark.django_db
def test_the_right_header_passes(origin_secret):
    response = Client().get("/", HTTP_X_ORIGIN_VERIFY=SECRET)
    assert response.status_code == 200


@pytest.mark.django_db
def test_a_previous_value_passes_during_a_rotation(origin_secret):
    origin_secret.SHOP_ORIGIN_VERIFY_SECRET_FALLBACKS = [OLD_SECRET]
    assert Client().get("/", HTTP_X_ORIGIN_VERIFY=OLD_SECRET).status_code == 200
    assert Client().get("/", HTTP_X_ORIGIN_VERIFY=SECRET).status_code == 200
    assert Client().get("/", HTTP_X_ORIGIN_VERIFY="anything-else").status_code == 403


@pytest.mark.django_db
def test_load_balancer_health_probes_need_no_header(origin_secret):
    # The balancer probes the instance by its private IP, over HTTP, with no CloudFront header.
    assert Client().get("/healthz", HTTP_HOST="172.26.4.9").status_code == 200
    assert Client().get("/readyz", HTTP_HOST="172.26.4.9").status_code == 200


@pytest.mark.django_db
def test_no_secret_configured_means_no_check(settings):
    settings.SHOP_ORIGIN_VERIFY_SECRET = ""
    settings.SHOP_ORIGIN_VERIFY_SECRET_FALLBACKS = []
    assert Client().get("/").status_code == 200


def test_the_check_runs_before_sessions_csrf_and_views(settings):
    order = settings.MIDDLEWARE
    check = order.index("jewelry_site.origin_verify.OriginVerifyMiddleware")
    assert order.index("jewelry_site.middleware.HealthCheckMiddleware") < check
    assert check < order.index("django.contrib.sessions.middleware.SessionMiddleware")
    assert check < order.index("django.middleware.csrf.CsrfViewMiddleware")


@pytest.mark.parametrize(
    ("forwarded", "hops", "expected"),
    [
        # Through CloudFront, the load balancer and nginx: the client is third from the right.
        ("203.0.113.7, 130.176.12.34, 172.26.4.5", 3, "203.0.113.7"),
        # Forged entries before our hops are ignored, however many and whatever they say.
        (CHAIN, 3, "203.0.113.7"),
        ("127.0.0.1, 10.0.0.1, 203.0.113.7, 130.176.12.34, 172.26.4.5", 3, "203.0.113.7"),
        # Fewer entries than hops: not through our chain, so nothing in the header is believed.
        ("203.0.113.7, 172.26.4.5", 3, "unknown"),
        ("", 3, "unknown"),
        # Without CloudFront (2) or behind nginx alone (1).
        ("203.0.113.7, 172.26.4.5", 2, "203.0.113.7"),
        ("6.6.6.6, 172.26.4.5", 1, "172.26.4.5"),
        ("6.6.6.6", 0, "unknown"),
    ],
)
def test_client_ip_reads_the_hop_our_proxies_wrote(rf, settings, forwarded, hops, expected):
    settings.SHOP_TRUSTED_PROXY_HOPS = hops
    assert client_ip(rf.get("/", REMOTE_ADDR="", HTTP_X_FORWARDED_FOR=forwarded)) == expected


def test_production_defaults_match_the_chain():
    """prod.py's defaults, read from a fresh interpreter (no environment override of the hop count)."""
    code = (
        "from django.conf import settings; import json; "
        "print(json.dumps([settings.SHOP_TRUSTED_PROXY_HOPS, list(settings.SECURE_PROXY_SSL_HEADER), "
        "'jewelry_site.origin_verify.OriginVerifyMiddleware' in settings.MIDDLEWARE]))"
    )
    env = prod_env(
        database_url="postgres://localhost/unused",
        DJANGO_SECRET_KEY=strong_secret_key(),
        DJANGO_ALLOWED_HOSTS=PROD_HOST,
    )
    result = subprocess.run(
        [PYTHON, "-c", f"import django; django.setup(); {code}"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [3, ["HTTP_X_FORWARDED_PROTO", "https"], True]


@pytest.fixture(scope="module")
def gunicorn_with_origin_secret(moto_server, test_database, tmp_path_factory):
    """The shop under prod settings in a real gunicorn on TCP and on a unix socket (for nginx), one process."""
    tmp = tmp_path_factory.mktemp("origin-verify")
    sock = tmp / "gunicorn.sock"
    with prod_gunicorn_with_secrets(
        moto=moto_server,
        database=test_database,
        tmp=tmp,
        app_config={"ORIGIN_VERIFY_SECRET": SECRET},
        db_password="x",
        workers=1,
        bind=f"unix:{sock}",
    ) as server:
        yield server, sock


# The mark makes pytest-django create the test database the server reads, even when run alone.
@pytest.mark.django_db
def test_production_server_refuses_requests_that_skipped_cloudfront(gunicorn_with_origin_secret):
    server, _sock = gunicorn_with_origin_secret
    url, log = server.url, server.stdout
    chain = {"Host": PROD_HOST, "X-Forwarded-Proto": "https", "X-Forwarded-For": CHAIN}
    # Straight to the load balancer: no header, or a guess.
    assert requests.get(url + "/", headers=chain, timeout=15).status_code == 403
    guess = {**chain, "X-Origin-Verify": SECRET[:-1] + "0"}
    assert requests.get(url + "/", headers=guess, timeout=15).status_code == 403
    # Through CloudFront.
    through = requests.get(url + "/", headers={**chain, "X-Origin-Verify": SECRET}, timeout=15)
    assert through.status_code == 200
    # The balancer's probe: by IP, plain HTTP, no header.
    assert requests.get(url + "/healthz", headers={"Host": "172.26.4.9"}, timeout=15).status_code == 200
    lines = json_lines(log.read_text())  # the app's stdout: JSON lines only
    refused = [line for line in lines if line.get("event") == "origin_verify_failed"]
    assert [(line["reason"], line["client_ip"]) for line in refused] == [
        ("missing", "203.0.113.7"),
        ("mismatch", "203.0.113.7"),
    ]
    assert SECRET[:-1] not in log.read_text() + server.stderr.read_text()


@pytest.fixture(scope="module")
def nginx_in_front(gunicorn_with_origin_secret, tmp_path_factory):
    """Real nginx with the shipped site (deploy/nginx.conf, jewelry_proxy.conf) in front of that gunicorn.

    Only paths and the listen port are rewritten; the proxy headers are the shipped ones. Here nginx's
    peer is 127.0.0.1, standing for the load balancer's private address.
    """
    _server, sock = gunicorn_with_origin_secret
    tmp = tmp_path_factory.mktemp("nginx")
    port = free_port()
    proxy = tmp / "jewelry_proxy.conf"
    proxy.write_text((REPO / "deploy/jewelry_proxy.conf").read_text())
    site = (REPO / "deploy/nginx.conf").read_text()
    site = site.replace("unix:/run/jewelry/gunicorn.sock", f"unix:{sock}")
    site = site.replace("/etc/nginx/jewelry_proxy.conf", str(proxy))
    site = site.replace("/var/log/nginx/jewelry-error.log", str(tmp / "error.log"))
    site = re.sub(r"listen 80 default_server;", f"listen 127.0.0.1:{port} default_server;", site)
    site = re.sub(r"listen 80;", f"listen 127.0.0.1:{port};", site)
    site = re.sub(r"\n\s*listen \[::\]:80[^;]*;", "", site)
    temp = tmp / "temp"
    temp.mkdir()
    main = tmp / "nginx.conf"
    main.write_text(
        f"worker_processes 1;\nuser root;\npid {tmp}/nginx.pid;\nerror_log {tmp}/main-error.log warn;\n"
        "events { worker_connections 64; }\n"
        f"http {{\n  client_body_temp_path {temp}/body;\n  proxy_temp_path {temp}/proxy;\n"
        f"  fastcgi_temp_path {temp}/fastcgi;\n  uwsgi_temp_path {temp}/uwsgi;\n  scgi_temp_path {temp}/scgi;\n"
        f"  access_log off;\n{site}\n}}\n"
    )
    process = subprocess.Popen(
        ["/usr/sbin/nginx", "-p", str(tmp), "-c", str(main), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=(tmp / "stderr.log").open("w"),
    )
    try:
        wait_until(port_open(port), timeout=30, what="nginx", process=process)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)


@pytest.mark.django_db
def test_through_nginx_the_client_is_three_hops_back_and_the_header_passes(nginx_in_front, gunicorn_with_origin_secret):
    """What the load balancer sends nginx: the viewer and CloudFront's edge in X-Forwarded-For, https, the header."""
    server, _sock = gunicorn_with_origin_secret
    log = server.stdout
    from_balancer = {
        "Host": PROD_HOST,
        "X-Forwarded-Proto": "https",
        # A forged entry, the viewer (by CloudFront), CloudFront's edge (by the load balancer).
        "X-Forwarded-For": "6.6.6.6, 198.51.100.23, 130.176.12.34",
    }
    before = len(log.read_text())
    refused = requests.get(nginx_in_front + "/", headers=from_balancer, timeout=15)
    assert refused.status_code == 403
    passed = requests.get(nginx_in_front + "/", headers={**from_balancer, "X-Origin-Verify": SECRET}, timeout=15)
    assert passed.status_code == 200
    assert "Strict-Transport-Security" in passed.headers  # Django saw https from X-Forwarded-Proto
    # Over plain HTTP (no X-Forwarded-Proto) the page redirects to https: the scheme comes only from that header.
    plain = {k: v for k, v in from_balancer.items() if k != "X-Forwarded-Proto"}
    redirected = requests.get(
        nginx_in_front + "/", headers={**plain, "X-Origin-Verify": SECRET}, timeout=15, allow_redirects=False
    )
    assert redirected.status_code == 301
    assert redirected.headers["Location"] == f"https://{PROD_HOST}/"
    # The balancer's probe: by IP, no header, no forwarding headers.
    assert requests.get(nginx_in_front + "/healthz", headers={"Host": "172.26.4.9"}, timeout=15).status_code == 200
    events = [line for line in json_lines(log.read_text()[before:]) if line.get("event") == "origin_verify_failed"]
    # nginx appended its peer (127.0.0.1, the balancer): the viewer is exactly three entries from the right.
    assert [(e["reason"], e["client_ip"]) for e in events] == [("missing", "198.51.100.23")]
