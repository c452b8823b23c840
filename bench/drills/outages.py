"""Outside services that fail on cue, for the last-piece drill: Stripe behind a gate we open, hold or
refuse; Stripe's webhook deliveries held back and retried; an SMTP server we stop and start; the
e-mail worker restarted as systemd would. All on 127.0.0.1, every thread and process stopped here.

What they do not cover: TLS (the shop talks plain HTTP and SMTP to them), Stripe's own retry
schedule (hours to days: here a retry every second or two), and a Stripe that answers slowly but
does answer (the gate either forwards at once, holds a connection unanswered, or resets it).
"""

import contextlib
import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests
from aiosmtpd.controller import Controller

from loopback import HOST, stop


class StripeGate:
    """A TCP proxy between the shop and localstripe: "open" forwards each new connection, "hold"
    keeps it unanswered (Stripe unreachable: the shop's call waits for its timeout), "refuse" resets
    it at once (Stripe unreachable: the call fails now). ``release`` forwards the held ones late."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.mode = "open"
        self.refused = 0
        self._held: list[socket.socket] = []
        self._lock = threading.Lock()
        self._sock = socket.socket()
        self._sock.bind((HOST, 0))
        self._sock.listen(64)
        self._sock.settimeout(0.1)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def port(self) -> int:
        return self._sock.getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def held_peer_ports(self) -> list[int]:
        """The shop-side port of each held connection (to find the process waiting on it)."""
        with self._lock:
            return [conn.getpeername()[1] for conn in self._held if conn.fileno() != -1]

    def release(self) -> int:
        """Forward every held connection now (a late answer); returns how many."""
        with self._lock:
            held, self._held = self._held, []
        for conn in held:
            threading.Thread(target=self._pipe, args=(conn,), daemon=True).start()
        return len(held)

    def drop_held(self) -> int:
        with self._lock:
            held, self._held = self._held, []
        for conn in held:
            _reset(conn)
        return len(held)

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self.mode == "refuse":
                self.refused += 1
                _reset(conn)
            elif self.mode == "hold":
                with self._lock:
                    self._held.append(conn)
            else:
                threading.Thread(target=self._pipe, args=(conn,), daemon=True).start()

    def _pipe(self, conn: socket.socket) -> None:
        try:
            upstream = socket.create_connection((HOST, self.upstream_port), timeout=10)
        except OSError:
            _reset(conn)
            return
        upstream.settimeout(None)
        conn.settimeout(None)

        def copy(src: socket.socket, dst: socket.socket) -> None:
            try:
                while data := src.recv(65536):
                    dst.sendall(data)
            except OSError:
                pass
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

        back = threading.Thread(target=copy, args=(upstream, conn), daemon=True)
        back.start()
        copy(conn, upstream)
        back.join(timeout=60)
        conn.close()
        upstream.close()

    def __enter__(self) -> "StripeGate":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)
        self.drop_held()
        self._sock.close()


def _reset(conn: socket.socket) -> None:
    """Close with a TCP reset (SO_LINGER 0), as a host whose service is down answers."""
    with contextlib.suppress(OSError):
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    conn.close()


def pid_with_connection(pids: list[int], *, local_port: int) -> int | None:
    """Which of ``pids`` owns the loopback TCP socket bound to ``local_port`` (from /proc)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if int(parts[1].rsplit(":", 1)[1], 16) == local_port:
                inodes.add(parts[9])
    for pid in pids:
        try:
            links = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
        except OSError:
            continue
        if any(link == f"socket:[{inode}]" for link in links for inode in inodes):
            return pid
    return None


@dataclass
class Delivery:
    event_id: str
    type: str
    order_number: str
    body: bytes
    due: float | None  # None: held back
    attempts: int = 0
    outcomes: list[str] = field(default_factory=list)
    delivered: bool = False


class WebhookRelay:
    """Stripe's webhook delivery: localstripe posts each event here (answered 200 at once); the
    relay delivers it to the shop when released, signed afresh at each attempt as Stripe does, and
    retries until the shop answers 2xx (every ``retry_s``, bounded by ``close``)."""

    def __init__(self, *, target: str, secret: str, retry_s: float = 1.0) -> None:
        self.target, self.secret, self.retry_s = target, secret, retry_s
        self.holding = True
        self.deliveries: list[Delivery] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        relay = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                relay._received(body)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer((HOST, 0), Handler)
        self._threads = [
            threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True),
            threading.Thread(target=self._deliver_loop, daemon=True),
        ]

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self._server.server_address[1]}/"

    def _received(self, body: bytes) -> None:
        event = json.loads(body)
        obj = event.get("data", {}).get("object", {})
        number = (obj.get("metadata") or {}).get("order_number", "")
        with self._lock:
            due = None if self.holding else time.monotonic()
            self.deliveries.append(Delivery(event["id"], event["type"], number, body, due))

    def release(self, *, order_number: str | None = None) -> int:
        """Deliver the held events (all, or one order's) from now on; returns how many."""
        with self._lock:
            chosen = [d for d in self.deliveries if d.due is None and order_number in (None, d.order_number)]
            for d in chosen:
                d.due = time.monotonic()
            if order_number is None:
                self.holding = False
        return len(chosen)

    def pending(self) -> list[Delivery]:
        with self._lock:
            return [d for d in self.deliveries if not d.delivered]

    def _deliver_loop(self) -> None:
        while not self._stopping.wait(0.05):
            now = time.monotonic()
            with self._lock:
                due = [d for d in self.deliveries if not d.delivered and d.due is not None and d.due <= now]
            for delivery in due:
                self._attempt(delivery)

    def _attempt(self, delivery: Delivery) -> None:
        timestamp = int(time.time())
        digest = hmac.new(self.secret.encode(), f"{timestamp}.".encode() + delivery.body, hashlib.sha256)
        headers = {"Content-Type": "application/json", "Stripe-Signature": f"t={timestamp},v1={digest.hexdigest()}"}
        try:
            answer = requests.post(self.target, data=delivery.body, headers=headers, timeout=30)
            outcome = f"{answer.status_code} {answer.text[:60]}".strip()
            ok = 200 <= answer.status_code < 300
        except requests.RequestException as error:
            outcome, ok = type(error).__name__, False
        with self._lock:
            delivery.attempts += 1
            delivery.outcomes.append(outcome)
            delivery.delivered = ok
            if not ok:
                delivery.due = time.monotonic() + self.retry_s

    def __enter__(self) -> "WebhookRelay":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        for thread in self._threads:
            thread.join(timeout=35)


class SmtpSink:
    """A real SMTP server (aiosmtpd) on one loopback port that keeps every message it accepts, across
    ``down()`` and ``up()`` (while down nobody listens: the worker's connections are refused)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.messages: list[bytes] = []
        self._lock = threading.Lock()
        self._controller: Controller | None = None

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd's hook name)
        with self._lock:
            self.messages.append(envelope.content)
        return "250 Message accepted for delivery"

    def received(self) -> list[bytes]:
        with self._lock:
            return list(self.messages)

    def up(self) -> None:
        if self._controller is None:
            self._controller = Controller(self, hostname=HOST, port=self.port, ready_timeout=10)
            self._controller.start()

    def down(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


class MailWorker:
    """``manage.py db_worker`` as deploy/jewelry-worker.service runs it (mail_requeue first); started
    again when it exits, as systemd's Restart=always would (a database restart makes it exit)."""

    def __init__(self, *, env: dict[str, str], log: Path, cwd: Path) -> None:
        self.env, self.log, self.cwd = env, log, cwd
        self.process: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> None:
        python = sys.executable
        with self.log.open("a") as out:
            subprocess.run(
                [python, "manage.py", "mail_requeue"], cwd=self.cwd, env=self.env, stdout=out, stderr=out, timeout=60
            )
            self.process = subprocess.Popen(
                [python, "manage.py", "db_worker", "--no-reload", "--queue-name", "default", "--interval", "0.2"],
                cwd=self.cwd,
                env=self.env,
                stdout=out,
                stderr=out,
            )
        self.starts += 1

    def restart_if_exited(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            self.start()

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)
