"""The e-mail worker as deploy/jewelry-worker.service runs it (its ExecStartPre and ExecStart, our venv),
against a real SMTP server on loopback: down for a while then up, killed mid-send, its database
connections cut. Every message arrives exactly once (counted by Message-ID)."""

import os
import shlex
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
from django.db import connection
from django_tasks_db.models import DBTaskResult

from loopback import free_port, stop, wait_until
from mailqueue.models import Mail, MailStatus
from tests.deploy.conftest import PYTHON, REPO, database_url
from tests.factories import ProductVariantFactory
from tests.mail.smtp_server import Recorder, Stall, smtp_server
from tests.orders.conftest import cart_with, place

pytestmark = pytest.mark.django_db(transaction=True)  # the worker subprocess must see committed rows

UNIT = REPO / "deploy" / "jewelry-worker.service"
APP_PYTHON = "/srv/jewelry/current/.venv/bin/python"


def unit_commands() -> list[list[str]]:
    """The unit's ExecStartPre then ExecStart, with our venv's python for the release's."""
    commands = []
    for key in ("ExecStartPre=", "ExecStart="):
        (line,) = [line for line in UNIT.read_text().splitlines() if line.startswith(key)]
        argv = shlex.split(line.removeprefix(key))
        assert argv[0] == APP_PYTHON
        commands.append([PYTHON, *argv[1:]])
    return commands


class Worker:
    """The unit, emulated: ExecStartPre to completion, then ExecStart; ``restart`` as Restart=always would."""

    def __init__(self, *, smtp_port: int, log: Path) -> None:
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")},
            "DJANGO_SETTINGS_MODULE": "tests.mail.worker_settings",
            "DJANGO_DATABASE_URL": database_url(connection.settings_dict["NAME"]),
            "TEST_SMTP_PORT": str(smtp_port),
            # Quick retries for the test: 0.1 s doubling to 0.4 s, and never "failed for good" here.
            "DJANGO_MAIL_RETRY_BASE_SECONDS": "0.1",
            "DJANGO_MAIL_RETRY_MAX_SECONDS": "0.4",
            "DJANGO_MAIL_MAX_ATTEMPTS": "10000",
        }
        self.log = log
        self.process: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> None:
        pre, main = unit_commands()
        with self.log.open("a") as out:
            subprocess.run(pre, cwd=REPO, env=self.env, stdout=out, stderr=out, timeout=60, check=True)
            self.process = subprocess.Popen(main, cwd=REPO, env=self.env, stdout=out, stderr=out)
        self.starts += 1

    def restart_if_exited(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            self.start()

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)


def queue(count: int) -> list[Mail]:
    """``count`` real orders, placed as the checkout does: each stores its confirmation e-mail."""
    variant = ProductVariantFactory(stock=count)
    for i in range(count):
        place(cart_with((variant, 1)), email=f"shopper{i}@example.com")
    mails = list(Mail.objects.order_by("pk"))
    assert len(mails) == count
    return mails


def expected_ids(mails: list[Mail]) -> Counter:
    return Counter(f"<{mail.uuid}@example.com>" for mail in mails)


def all_sent() -> bool:
    return not Mail.objects.exclude(status=MailStatus.SENT).exists()


def no_runnable_tasks() -> bool:
    return not DBTaskResult.objects.ready().exists()


def test_smtp_down_for_a_while_then_up_every_message_arrives_exactly_once(tmp_path):
    port = free_port()
    mails = queue(12)
    worker = Worker(smtp_port=port, log=tmp_path / "worker.log")
    worker.start()
    started = time.monotonic()
    try:
        # Down: nobody listens on the port. Wait until every e-mail has failed at least 3 times.
        wait_until(
            lambda: Mail.objects.filter(attempts__gte=3).count() == len(mails),
            timeout=90,
            what="three failed tries of each e-mail",
            process=worker.process,
        )
        # A database restart, as the worker sees it: every connection it has is cut.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            (cut,) = cursor.fetchone()
        assert Mail.objects.filter(status=MailStatus.SENT).count() == 0
        failed_tries = sum(Mail.objects.values_list("attempts", flat=True))
        down_for = time.monotonic() - started

        recorder = Recorder()
        with smtp_server(recorder, port=port):

            def delivered() -> bool:
                worker.restart_if_exited()  # systemd's Restart=always
                return all_sent() and no_runnable_tasks()

            wait_until(delivered, timeout=90, what="every e-mail sent")
            worker.stop()
            received = Counter(recorder.message_ids())
    finally:
        worker.stop()

    assert received == expected_ids(mails)  # each once, none missing, none extra
    assert len(recorder.messages) == len(mails)
    assert sorted(m["To"] for m in recorder.messages) == sorted(m.to for m in mails)
    tries = Counter(Mail.objects.values_list("attempts", flat=True))
    print(
        f"\nSMTP down {down_for:.1f}s: {failed_tries} failed tries for {len(mails)} e-mails; "
        f"{cut} worker connection(s) cut, worker started {worker.starts} time(s); "
        f"received {sum(received.values())} messages, {len(received)} distinct; tries per e-mail {dict(tries)}"
    )


def test_a_worker_killed_mid_send_loses_nothing_and_the_next_one_sends_each_once(tmp_path):
    mails = queue(4)
    stall = Stall()
    stall_port, good_port = free_port(), free_port()
    first = Worker(smtp_port=stall_port, log=tmp_path / "first.log")
    with smtp_server(stall, port=stall_port):
        first.start()
        try:
            wait_until(stall.data_received.is_set, timeout=60, what="the worker mid-send", process=first.process)
            first.process.kill()  # SIGKILL by its PID: no chance to tidy up
            first.process.wait(timeout=10)
        finally:
            first.stop()
    # The killed task stays "running" for ever; its e-mail's row lock died with the connection.
    assert DBTaskResult.objects.running().count() == 1
    assert Mail.objects.filter(status=MailStatus.PENDING).count() == len(mails)

    recorder = Recorder()
    second = Worker(smtp_port=good_port, log=tmp_path / "second.log")
    with smtp_server(recorder, port=good_port):
        second.start()  # ExecStartPre (mail_requeue) gives the orphaned e-mail a new task
        try:
            wait_until(lambda: all_sent() and no_runnable_tasks(), timeout=60, what="every e-mail sent")
        finally:
            second.stop()
    assert Counter(recorder.message_ids()) == expected_ids(mails)
    print(f"\nkilled mid-send: {len(mails)} e-mails, {len(recorder.messages)} received, each once")
