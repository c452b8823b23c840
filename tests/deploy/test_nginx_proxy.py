"""The shipped nginx site in front of an upstream that echoes what it received.

Debian's nginx runs deploy/nginx.conf and deploy/jewelry_proxy.conf as shipped (paths and port moved
by tests/deploy/nginx_site.py); the upstream is a small HTTP server on the same unix socket path
gunicorn uses, which answers with the request line and headers nginx sent it. It stands in for
gunicorn only to show what reaches the app; the app behind nginx is exercised in
test_release_rehearsal.py. Not covered: the load balancer and CloudFront hops in front of nginx.
"""

import http.server
import json
import shutil
import socketserver
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest
import requests
from django.test import RequestFactory

from jewelry_site.client_address import client_ip
from tests.deploy.nginx_site import NGINX, get_from, nginx_site
from tests.servers import free_port, port_open, stop, wait_until

HOST = "shop.example.com"


class Echo(http.server.BaseHTTPRequestHandler):
    """Answers every request with JSON: method, path and the headers as received."""

    protocol_version = "HTTP/1.1"

    def do_any(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        body = json.dumps({"method": self.command, "path": self.path, "headers": dict(self.headers.items())}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_any  # noqa: N815 - the names http.server dispatches to

    def log_message(self, *args) -> None:  # a unix socket has no client address to log
        pass


class UnixEcho(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


@pytest.fixture(scope="module")
def proxy():
    assert NGINX.exists(), "nginx is missing: run scripts/install.sh test"
    base = Path(tempfile.mkdtemp(prefix="jewelry-nginx-", dir="/tmp"))
    base.chmod(0o755)
    root = base / "root"
    socket_dir = root / "run" / "jewelry"
    socket_dir.mkdir(parents=True)
    socket_path = socket_dir / "gunicorn.sock"
    server = UnixEcho(str(socket_path), Echo)
    socket_path.chmod(0o666)  # nginx's workers run as www-data
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    (root / "srv" / "jewelry").mkdir(parents=True)
    port = free_port()
    conf = nginx_site(root=root, port=port, work=base)
    nginx = subprocess.Popen([str(NGINX), "-c", str(conf), "-g", "daemon off;"], stderr=subprocess.PIPE)
    try:
        wait_until(port_open(port), timeout=20, what="nginx", process=nginx)
        yield f"http://127.0.0.1:{port}", root
    finally:
        stop(nginx)
        server.shutdown()
        server.server_close()
        shutil.rmtree(base)


def echoed(url: str, path: str = "/shop/", *, host: str = HOST, **headers: str) -> dict:
    response = requests.get(url + path, headers={"Host": host, **headers}, timeout=10)
    assert response.status_code == 200, response.status_code
    return {name.lower(): value for name, value in response.json()["headers"].items()}


def test_the_headers_the_app_needs_reach_it_unchanged(proxy):
    url, _root = proxy
    sent = {
        "X-Forwarded-Proto": "https",
        "X-Origin-Verify": "origin-secret-Value_1",
        "Cookie": "__Host-sessionid=abc; __Host-csrftoken=def",
        "X-CSRFToken": "def",
        "Stripe-Signature": "t=1,v1=abc",
        "User-Agent": "rehearsal/1.0",
        "Accept-Language": "en-GB",
    }
    got = echoed(url, **sent)
    for name, value in sent.items():
        assert got[name.lower()] == value, name
    assert got["host"] == HOST


def test_forwarded_for_is_appended_and_the_client_cannot_choose_its_address(proxy, settings):
    url, _root = proxy
    got = echoed(url, **{"X-Forwarded-For": "203.0.113.66"})
    # nginx appends the peer it saw (here the test itself on loopback) after the client's claim.
    assert got["x-forwarded-for"] == "203.0.113.66, 127.0.0.1"
    settings.SHOP_TRUSTED_PROXY_HOPS = 1  # nginx alone; each proxy in front adds one hop
    request = RequestFactory().get("/", HTTP_X_FORWARDED_FOR=got["x-forwarded-for"], REMOTE_ADDR="unix")
    assert client_ip(request) == "127.0.0.1"
    without = echoed(url)
    assert without["x-forwarded-for"] == "127.0.0.1"


def test_nginx_neither_vouches_for_a_request_id_nor_passes_x_real_ip(proxy):
    """Issue #21: the app makes its own request id (a client's arrives as the client's and is logged as
    client_request_id) and never reads X-Real-IP, which nginx drops when a client sends one."""
    url, _root = proxy
    assert echoed(url, **{"X-Request-ID": "req-42"})["x-request-id"] == "req-42"
    assert "x-request-id" not in echoed(url)
    assert "x-real-ip" not in echoed(url)
    assert "x-real-ip" not in echoed(url, **{"X-Real-IP": "198.51.100.7"})  # the client's is dropped


def test_unknown_host_gets_only_the_probes_and_a_403(proxy):
    url, _root = proxy
    assert echoed(url, "/healthz", host="172.26.9.10")["host"] == "172.26.9.10"
    # A plain 403, not 444: behind the load balancer a closed connection is the balancer's 502,
    # which pages lb-5xx on scanner noise (issue #22).
    for host in ("attacker.example", "172.26.9.10"):
        refused = requests.get(url + "/shop/", headers={"Host": host}, timeout=10)
        assert refused.status_code == 403, host
        assert "headers" not in refused.text  # nginx's own page: the app (here the echo) was never asked


@pytest.mark.parametrize("host", [HOST, "172.26.9.10"])
def test_readyz_answers_the_instance_only(proxy, host):
    """/readyz (commit, database round trip) to loopback only; /healthz, the balancer's probe, to anyone."""
    url, _root = proxy
    port = int(url.rsplit(":", 1)[1])
    assert echoed(url, "/readyz", host=host)["host"] == host  # from 127.0.0.1: the instance itself
    status, body = get_from("127.0.0.2", port, "/readyz", host=host)
    assert status == 403
    assert "headers" not in body  # refused by nginx: the app never ran the probe
    status, body = get_from("127.0.0.2", port, "/healthz", host=host)
    assert status == 200
    assert json.loads(body)["path"] == "/healthz"


def test_maintenance_flag_stops_everything_but_the_probes(proxy):
    url, root = proxy
    flag = root / "srv" / "jewelry" / "MAINTENANCE"
    flag.touch()
    try:
        for method in ("GET", "POST"):
            closed = requests.request(method, url + "/checkout/", headers={"Host": HOST}, timeout=10)
            assert closed.status_code == 503, method
            assert closed.headers["Retry-After"] == "600"
            # No release here, so no maintenance page in it: nginx's own 503 page, never a 404.
            assert "503 Service Temporarily Unavailable" in closed.text
        assert echoed(url, "/readyz")["host"] == HOST
        assert echoed(url, "/healthz")["host"] == HOST
    finally:
        flag.unlink()
    assert echoed(url)["host"] == HOST


def test_hashed_static_files_of_every_release_come_from_the_published_folder(proxy):
    """release.sh publishes the hashed static files of every kept release to /srv/jewelry/static; nginx
    serves them first (a page of either release finds its CSS during a switch), the rest goes to the app."""
    url, root = proxy
    published = root / "srv" / "jewelry" / "static" / "static" / "css"
    published.mkdir(parents=True)
    (published / "shop.0123456789ab.css").write_text("body{}")
    (published / "shop.0123456789ab.css").chmod(0o644)
    for folder in (published, published.parent, published.parent.parent):
        folder.chmod(0o755)
    served = requests.get(url + "/static/css/shop.0123456789ab.css", headers={"Host": HOST}, timeout=10)
    assert served.status_code == 200
    assert served.text == "body{}"
    assert served.headers["Cache-Control"] == "max-age=315360000, public, immutable"
    # Not published (an unhashed name, or a release not kept): WhiteNoise in the app decides.
    assert echoed(url, "/static/css/shop.css")["host"] == HOST
    assert echoed(url, "/static/css/shop.fedcba987654.css")["host"] == HOST
