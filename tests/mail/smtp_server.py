"""A real SMTP server on loopback (aiosmtpd) that records every message it accepts.

What it does not cover: TLS and authentication (production talks to SES with STARTTLS and a password);
the worker's SMTP client code path is the same, only the handshake differs.
"""

import asyncio
import email
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from aiosmtpd.controller import Controller

from loopback import HOST


class Recorder:
    """aiosmtpd handler: keeps each accepted message (parsed) in arrival order."""

    def __init__(self) -> None:
        self.messages: list[email.message.Message] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd's hook name)
        with self._lock:
            self.messages.append(email.message_from_bytes(envelope.content))
        return "250 Message accepted for delivery"

    def message_ids(self) -> list[str]:
        with self._lock:
            return [message["Message-ID"] for message in self.messages]


class Stall:
    """aiosmtpd handler that takes a message's DATA and then never answers (until stopped):
    a client sending to it is provably mid-send. It accepts nothing."""

    def __init__(self) -> None:
        self.data_received = threading.Event()

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd's hook name)
        self.data_received.set()
        await asyncio.sleep(120)  # longer than any test waits; the controller's stop cancels it
        return "451 Try again later"


@contextmanager
def smtp_server(handler, *, port: int) -> Iterator[Controller]:
    """Run ``handler`` on 127.0.0.1:``port`` in a thread; stopped by its controller on exit."""
    controller = Controller(handler, hostname=HOST, port=port, ready_timeout=10)
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()
