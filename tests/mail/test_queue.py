"""The queue's rules: stored in the caller's transaction, backoff that doubles to a cap, "failed for
good" after the last try (seen and re-sent by staff in the admin), and duplicates that never send twice."""

import io
import logging
from datetime import timedelta

import pytest
from django.core import mail
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from loopback import free_port
from mailqueue.models import Mail, MailStatus
from mailqueue.services import mail_deliver, mail_requeue, mail_retry_delay
from tests.factories import StaffUserFactory
from tests.mail.worker import mail_worker_run
from tests.orders.conftest import cart_with, place

pytestmark = pytest.mark.django_db


@pytest.fixture
def smtp_down(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 2


def test_retry_delay_doubles_from_the_base_up_to_the_cap(settings):
    settings.SHOP_MAIL_RETRY_BASE_SECONDS, settings.SHOP_MAIL_RETRY_MAX_SECONDS = 30, 3600
    delays = [mail_retry_delay(attempts=n).total_seconds() for n in range(1, 10)]
    assert delays == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]


def test_last_failed_try_is_failed_for_good_and_logged(ring, smtp_down, settings, caplog):
    settings.SHOP_MAIL_MAX_ATTEMPTS = 2
    place(cart_with((ring, 1)))
    stored = Mail.objects.get()
    assert mail_deliver(mail_id=stored.pk) == "retry"
    Mail.objects.filter(pk=stored.pk).update(next_attempt_at=timezone.now())  # its backoff has passed
    with caplog.at_level(logging.ERROR, logger="shop.mail"):
        assert mail_deliver(mail_id=stored.pk) == "failed"
    stored.refresh_from_db()
    assert (stored.status, stored.attempts) == (MailStatus.FAILED, 2)
    assert [r.event for r in caplog.records if r.levelno == logging.ERROR] == ["mail_failed_for_good"]
    assert mail_deliver(mail_id=stored.pk) == "skipped"  # nothing more happens to it


def test_a_duplicate_task_for_a_sent_or_not_yet_due_mail_sends_nothing(ring):
    place(cart_with((ring, 1)))
    stored = Mail.objects.get()
    Mail.objects.filter(pk=stored.pk).update(next_attempt_at=timezone.now() + timedelta(minutes=5))
    assert mail_deliver(mail_id=stored.pk) == "skipped"  # a twin chain already scheduled the next try
    Mail.objects.filter(pk=stored.pk).update(next_attempt_at=timezone.now())
    assert mail_deliver(mail_id=stored.pk) == "sent"
    assert mail_deliver(mail_id=stored.pk) == "skipped"
    assert len(mail.outbox) == 1


def test_requeue_gives_every_pending_mail_a_task_at_its_due_time(ring, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):  # as if the enqueue after commit was lost
        place(cart_with((ring, 1)))
        place(cart_with((ring, 1)))
    sent = Mail.objects.first()
    sent.status, sent.sent_at = MailStatus.SENT, timezone.now()
    sent.save()
    assert not DBTaskResult.objects.exists()
    assert mail_requeue() == 1
    task = DBTaskResult.objects.get()
    assert task.args_kwargs["kwargs"] == {"mail_id": Mail.objects.get(status=MailStatus.PENDING).pk}
    mail_worker_run()
    assert len(mail.outbox) == 1


def test_staff_see_failed_mails_and_send_them_again(client, ring, django_capture_on_commit_callbacks):
    place(cart_with((ring, 1)))
    failed = Mail.objects.get()
    Mail.objects.filter(pk=failed.pk).update(status=MailStatus.FAILED, attempts=10, last_error="SMTPDataError")
    client.force_login(StaffUserFactory(is_superuser=True))
    changelist = reverse("admin:mailqueue_mail_changelist")
    response = client.get(changelist, {"status__exact": "failed"})
    assert response.status_code == 200
    assert response.context["cl"].result_count == 1
    assert "SMTPDataError" in response.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(changelist, {"action": "retry", "_selected_action": [failed.pk]})
    assert response.status_code == 302
    failed.refresh_from_db()
    assert (failed.status, failed.attempts) == (MailStatus.PENDING, 0)
    mail_worker_run()
    assert len(mail.outbox) == 1
    assert client.get(reverse("admin:mailqueue_mail_add")).status_code == 403


def test_shoppers_and_non_staff_cannot_see_the_mail_admin(client, ring):
    place(cart_with((ring, 1)))
    response = client.get(reverse("admin:mailqueue_mail_changelist"))
    assert response.status_code == 302  # to the admin login


def test_a_send_that_raises_a_non_smtp_error_counts_as_an_attempt_until_failed_for_good(
    ring, settings, caplog, django_capture_on_commit_callbacks
):
    """A message Django refuses to build (a header with a line break: BadHeaderError, a ValueError) used
    to roll the attempt back: pending for ever, no retry queued, never shown to staff as failed."""
    settings.SHOP_MAIL_MAX_ATTEMPTS = 2
    place(cart_with((ring, 1)))
    stored = Mail.objects.get()
    secret_address = "shopper-private@example.com"
    Mail.objects.filter(pk=stored.pk).update(subject="Your order\nBcc: x@example.com", to=secret_address)
    DBTaskResult.objects.all().delete()
    with caplog.at_level(logging.WARNING, logger="shop.mail"):
        with django_capture_on_commit_callbacks(execute=True):
            assert mail_deliver(mail_id=stored.pk) == "retry"
        stored.refresh_from_db()
        assert (stored.status, stored.attempts, stored.last_error) == (MailStatus.PENDING, 1, "BadHeaderError")
        assert stored.next_attempt_at > timezone.now() + timedelta(seconds=settings.SHOP_MAIL_RETRY_BASE_SECONDS - 5)
        retry = DBTaskResult.objects.get()  # the next try is queued, at the backoff
        assert retry.args_kwargs["kwargs"] == {"mail_id": stored.pk}
        Mail.objects.filter(pk=stored.pk).update(next_attempt_at=timezone.now())
        assert mail_deliver(mail_id=stored.pk) == "failed"
    stored.refresh_from_db()
    assert (stored.status, stored.attempts) == (MailStatus.FAILED, 2)
    assert mail.outbox == []
    logged = " ".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "BadHeaderError" in logged
    assert secret_address not in logged
    assert "Bcc" not in logged


def test_prune_deletes_old_sent_mails_and_finished_tasks_and_keeps_failed_and_pending(
    ring, settings, django_capture_on_commit_callbacks
):
    settings.SHOP_MAIL_RETENTION_DAYS = 90
    with django_capture_on_commit_callbacks(execute=True):
        place(cart_with((ring, 1)))
    mail_worker_run()  # sends it, finishing its task
    with django_capture_on_commit_callbacks(execute=True):
        place(cart_with((ring, 1)))  # its task stays queued (not finished): never pruned
    long_ago = timezone.now() - timedelta(days=91)
    DBTaskResult.objects.filter(finished_at__isnull=False).update(finished_at=long_ago)
    old_sent, queued = Mail.objects.order_by("pk")
    Mail.objects.filter(pk=old_sent.pk).update(sent_at=long_ago, created_at=long_ago)

    def stored(status, **fields):
        return Mail.objects.create(
            to="a@example.com", subject="s", text_body="t", kind="k", status=status, next_attempt_at=long_ago, **fields
        )

    recent_sent = stored(MailStatus.SENT, sent_at=timezone.now() - timedelta(days=89))
    old_failed = stored(MailStatus.FAILED)
    Mail.objects.filter(pk=old_failed.pk).update(created_at=long_ago)
    out = io.StringIO()
    call_command("mail_prune", stdout=out)
    assert "1 sent e-mail(s) and 1 finished task(s) older than 90 days" in out.getvalue()
    assert set(Mail.objects.values_list("pk", flat=True)) == {queued.pk, recent_sent.pk, old_failed.pk}
    assert DBTaskResult.objects.get().args_kwargs["kwargs"] == {"mail_id": queued.pk}


def test_task_rows_queued_under_the_old_module_path_still_import():
    """Rows queued before the task moved beside mail_deliver name mailqueue.tasks; the worker must load them."""
    from django.utils.module_loading import import_string

    from mailqueue.services import mail_deliver_task

    assert import_string("mailqueue.tasks.mail_deliver_task") is mail_deliver_task
    assert import_string(mail_deliver_task.module_path) is mail_deliver_task
