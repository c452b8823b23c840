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


class LateAck(Recorder):
    """aiosmtpd handler that keeps each message it is given at once (it has it), and answers "250" only
    when ``release`` is set: past a short EMAIL_TIMEOUT the client gives up while the server has the
    message, as a slow relay does. With ``at="RCPT"`` it stalls on the recipient instead, before any
    message is sent (the control)."""

    def __init__(self, *, at: str = "DATA") -> None:
        super().__init__()
        self.at = at
        self.release = threading.Event()

    async def _held(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 60)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:  # noqa: N802
        if self.at == "RCPT" and not self.release.is_set():
            await self._held()
            return "451 Try again later"  # the client gave up long ago
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802
        answer = await super().handle_DATA(server, session, envelope)
        await self._held()
        return answer


@contextmanager
def smtp_server(handler, *, port: int) -> Iterator[Controller]:
    """Run ``handler`` on 127.0.0.1:``port`` in a thread; stopped by its controller on exit."""
    controller = Controller(handler, hostname=HOST, port=port, ready_timeout=10)
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()
