"""The gunicorn the browser tests talk to directly: connections that send nothing must not hold it.

Chromium opens speculative connections and may send nothing on them. More of those than there are
workers, then a real request: it must be answered. With sync workers it waited for the 30 s worker
timeout (the request below gives up after 10 s), which once made a journey's page load time out.
"""

import socket
from urllib.parse import urlsplit

import requests


def test_idle_connections_do_not_hold_the_browser_server(shop_server):
    address = urlsplit(shop_server)
    idle = [socket.create_connection((address.hostname, address.port), timeout=5) for _ in range(4)]
    try:
        response = requests.get(f"{shop_server}/healthz", timeout=10)
    finally:
        for connection in idle:
            connection.close()
    assert response.status_code == 200
