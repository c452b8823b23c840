"""Issue 20: a mail server that acknowledges after our SMTP timeout received the same message twice.

The server (aiosmtpd on loopback) keeps the message as soon as it has it and answers only when the test
lets it, after the client's short timeout. The e-mail is then "unconfirmed": never re-sent on its own
(not by its next task, a requeue at worker start, or the worker), logged for the alarm, and staff may
send it again from the admin. A timeout before the message was sent is still an ordinary retry.
"""

import logging

import pytest
from django.utils import timezone

from loopback import free_port
from mailqueue.models import Mail, MailStatus
from mailqueue.services import mail_deliver, mail_requeue, mail_retry_failed
from tests.mail.smtp_server import LateAck, smtp_server
from tests.mail.worker import mail_worker_run
from tests.orders.conftest import cart_with, place

pytestmark = pytest.mark.django_db


@pytest.fixture
def smtp_settings(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS = "127.0.0.1", free_port(), False
    settings.EMAIL_TIMEOUT = 0.5  # the shop's is 10 s; the server below answers later than either
    return settings


def _due_again(mail: Mail) -> None:
    Mail.objects.filter(pk=mail.pk).update(next_attempt_at=timezone.now())


def test_a_message_acknowledged_after_the_timeout_is_not_sent_again(ring, smtp_settings, caplog):
    late = LateAck()
    with smtp_server(late, port=smtp_settings.EMAIL_PORT):
        place(cart_with((ring, 1)))
        stored = Mail.objects.get()
        with caplog.at_level(logging.ERROR, logger="shop.mail"):
            try:
                first = mail_deliver(mail_id=stored.pk)
            finally:
                late.release.set()  # the server's "250" comes, after the client gave up
        _due_again(stored)  # whatever runs next: its next task at its due time ...
        mail_deliver(mail_id=stored.pk)
        mail_requeue()  # ... the requeue at a worker's start, and the worker
        mail_worker_run()

        assert len(late.message_ids()) == 1  # before: twice, under the same Message-ID
    assert late.message_ids() == [f"<{stored.uuid}@example.com>"]
    assert first == "unconfirmed"
    stored.refresh_from_db()
    assert (stored.status, stored.attempts) == (MailStatus.UNCONFIRMED, 1)
    assert stored.last_error.startswith("No answer after sending")
    assert [r.event for r in caplog.records if r.levelno == logging.ERROR] == ["mail_unconfirmed"]


def test_staff_may_send_an_unconfirmed_message_again(ring, smtp_settings):
    late = LateAck()
    late.release.set()  # this time the server answers at once
    with smtp_server(late, port=smtp_settings.EMAIL_PORT):
        place(cart_with((ring, 1)))
        stored = Mail.objects.get()
        Mail.objects.filter(pk=stored.pk).update(status=MailStatus.UNCONFIRMED, attempts=1)
        assert mail_retry_failed(mail_ids=[stored.pk]) == 1
        assert mail_deliver(mail_id=stored.pk) == "sent"
    assert len(late.message_ids()) == 1


def test_a_timeout_before_the_message_was_sent_is_still_retried(ring, smtp_settings):
    """Control: only a send the server may have is held back; a stall on the recipient sent nothing."""
    stall = LateAck(at="RCPT")
    with smtp_server(stall, port=smtp_settings.EMAIL_PORT):
        place(cart_with((ring, 1)))
        stored = Mail.objects.get()
        try:
            assert mail_deliver(mail_id=stored.pk) == "retry"
        finally:
            stall.release.set()
        _due_again(stored)
        assert mail_deliver(mail_id=stored.pk) == "sent"
    assert len(stall.message_ids()) == 1
    stored.refresh_from_db()
    assert (stored.status, stored.attempts) == (MailStatus.SENT, 2)
