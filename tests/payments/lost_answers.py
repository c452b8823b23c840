"""A loopback stand-in for Stripe going quiet on some requests: those ``lose`` picks are forwarded to
localstripe (or, with ``reach=False``, not even that) and their connection is closed with no reply, as a
timeout after Stripe acted (or an outage) looks to us; every other request is passed through with its answer.

It does not cover a slow answer that arrives after our timeout, TLS, keep-alive, chunked bodies or Stripe's
own retries; it serves one request per connection, which is what the stripe library sends, one at a time.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable

import requests


def _read_request(conn: socket.socket) -> tuple[str, str, dict, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    length = int({k.lower(): v for k, v in headers.items()}.get("content-length", "0"))
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return method, path, headers, body


def _answer(conn: socket.socket, response: requests.Response) -> None:
    body = response.content
    head = f"HTTP/1.1 {response.status_code} {response.reason}\r\n"
    head += f"Content-Type: {response.headers.get('Content-Type', 'application/json')}\r\n"
    head += f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    conn.sendall(head.encode("latin-1") + body)


def refunds(method: str, path: str) -> bool:
    return method == "POST" and path.startswith("/v1/refunds")


@contextlib.contextmanager
def answers_lost(
    *,
    upstream: str,
    lose: Callable[[str, str], bool] = refunds,
    reach: bool = True,
    meanwhile: Callable[[str, str], None] | None = None,
):
    """A loopback URL in front of ``upstream``; yields (url, lost): the "METHOD path" of each request it dropped.

    ``meanwhile`` runs on each request before it is forwarded (what happens elsewhere while Stripe is asked);
    each connection has its own thread, so what it does may call Stripe through this proxy too.
    """
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    lost: list[str] = []
    stop = threading.Event()

    def handle(conn: socket.socket) -> None:
        with conn:
            method, path, headers, body = _read_request(conn)
            if meanwhile is not None:
                meanwhile(method, path)
            keep = {k: v for k, v in headers.items() if k.lower() not in ("host", "content-length", "connection")}
            dropped = lose(method, path)
            if dropped and not reach:
                lost.append(f"{method} {path}")
                return
            try:
                response = requests.request(method, upstream + path, headers=keep, data=body, timeout=10)
            except requests.RequestException:
                return  # upstream down too (the machine's outage): the client sees the connection drop
            if dropped:
                lost.append(f"{method} {path}")  # closed with no reply, after Stripe acted
            else:
                _answer(conn, response)

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}", lost
    finally:
        stop.set()
        with contextlib.suppress(OSError):
            server.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() on Linux
        server.close()
        thread.join(timeout=5)
