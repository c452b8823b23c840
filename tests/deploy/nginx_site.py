"""The shipped nginx site (deploy/nginx.conf + deploy/jewelry_proxy.conf) for a test's own nginx.

Only what a test must move is changed: the paths under a throwaway root folder (the same prefix as
deploy/release.sh's JEWELRY_PREFIX), the listen port (127.0.0.1 only), and the log folder. A small
main nginx.conf wraps it, as Debian's /etc/nginx/nginx.conf includes sites-enabled/.
"""

import http.client
import shutil
from pathlib import Path

from tests.deploy.conftest import REPO

NGINX = Path("/usr/sbin/nginx")


def nginx_site(*, root: Path, port: int, work: Path) -> Path:
    """Writes the site, the proxy include and a main config under ``root``; returns the main config."""
    etc = root / "etc" / "nginx"
    logs = root / "var" / "log" / "nginx"
    temp = work / "nginx-temp"
    for folder in (etc, logs, temp):
        folder.mkdir(parents=True, exist_ok=True)
    proxy = etc / "jewelry_proxy.conf"
    shutil.copy(REPO / "deploy" / "jewelry_proxy.conf", proxy)
    site = (REPO / "deploy" / "nginx.conf").read_text()
    for real in ("/srv/jewelry", "/run/jewelry"):
        site = site.replace(real, f"{root}{real}")
    site = site.replace("/etc/nginx/jewelry_proxy.conf", str(proxy))
    site = site.replace("/var/log/nginx/", f"{logs}/")
    site = site.replace("listen [::]:80 default_server;", "").replace("listen [::]:80;", "")
    site = site.replace("listen 80 default_server;", f"listen 127.0.0.1:{port} default_server;")
    site = site.replace("listen 80;", f"listen 127.0.0.1:{port};")
    assert "listen 80" not in site
    assert "/srv/jewelry" not in site.replace(f"{root}/srv/jewelry", "")
    (etc / "jewelry").write_text(site)
    main = etc / "nginx.conf"
    main.write_text(
        f"""user www-data;
worker_processes 1;
pid {work / "nginx.pid"};
error_log {logs / "error.log"} warn;
events {{ worker_connections 64; }}
http {{
    include /etc/nginx/mime.types;
    access_log off;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    include {etc / "jewelry"};
}}
"""
    )
    return main


def get_from(source: str, port: int, path: str, *, host: str, **headers: str) -> tuple[int, str]:
    """GET through the test's nginx from another loopback address (``source``, e.g. 127.0.0.2).

    Stands in for a peer that is not the instance itself (the load balancer, 172.26.x.x on Lightsail):
    nginx's allow/deny sees ``source`` as $remote_addr, as it would see the balancer's address.
    """
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(source, 0))
    try:
        connection.request("GET", path, headers={"Host": host, **headers})
        response = connection.getresponse()
        return response.status, response.read().decode(errors="replace")
    finally:
        connection.close()
