"""Every shopper e-mail goes through here: stored durably with the event it tells of, sent by a worker.

Why django-tasks with django-tasks-db (not procrastinate): it is the backport of Django 6's own Tasks
API, so the code stays when the shop moves to Django 6; its database backend runs on both databases
the shop uses (Postgres in production and tests, SQLite for ``make run``), where procrastinate needs
Postgres and its own schema. What it lacks is retries, so this module keeps the message in a ``Mail``
row and the retry policy here, in one place:

* ``mail_send`` writes the row inside the caller's transaction (it commits with the order, or not at
  all) and enqueues a delivery task on commit: the request never waits on SMTP.
* ``mail_deliver`` (the body of ``mail_deliver_task``, defined beside it) locks the row, sends, and
  marks it sent, in one transaction. On an SMTP or network error it counts the attempt and enqueues
  the next one with a backoff
  (``SHOP_MAIL_RETRY_BASE_SECONDS`` doubling, capped at ``SHOP_MAIL_RETRY_MAX_SECONDS``) until
  ``SHOP_MAIL_MAX_ATTEMPTS``; then the row is "failed for good", which staff see in the admin.
* A worker killed mid-send leaves the row pending (its transaction dies with it) and its task stuck
  "running"; a database restart makes the worker exit. Either way systemd starts it again after
  ``mail_requeue``, which enqueues a task for every pending row; a second task for a row is harmless
  (the row lock and its status decide).
* A send whose server took the whole message and never answered (it acknowledged after our
  EMAIL_TIMEOUT, or the connection dropped; mailqueue.smtp tells this apart from a failure before the
  message went) is most likely delivered: it is marked "unconfirmed", never retried automatically,
  and logged as ``mail_unconfirmed`` (an error, on the e-mail alarm). Staff check with the shopper and
  may send it again from the admin. A jeweller's shopper is better served by one e-mail to confirm by
  hand than by the same message twice.

So a message is sent at most once per commit: only a database that fails between the SMTP server's
"250 OK" and our commit can repeat one, under the same Message-ID (a receiver can spot it).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone
from django_tasks import task

from shop_text import text_one_line

from .models import Mail, MailStatus
from .smtp import SMTPOutcomeUnknownError

# Django's SMTP backend is swapped for mailqueue.smtp's, which reports an unanswered send as such.
DJANGO_SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"

logger = logging.getLogger("shop.mail")


def mail_send(*, to: str, subject: str, template: str, context: dict, kind: str, reference: str = "") -> Mail:
    """Store an e-mail rendered from ``template``.txt/.html and have the worker send it after commit."""
    context = {"SHOP_NAME": settings.SHOP_NAME, "SHOP_SITE_URL": settings.SHOP_SITE_URL, **context}
    html_template = f"{template}.html"
    mail = Mail.objects.create(
        to=to,
        subject=text_one_line(subject)[:250],  # a line break in a stored name never fails the send
        text_body=render_to_string(f"{template}.txt", context),
        html_body=render_to_string(html_template, context),
        kind=kind,
        reference=reference[:60],
        next_attempt_at=timezone.now(),
    )
    transaction.on_commit(lambda: _enqueue(mail_id=mail.pk), robust=True)
    logger.info("mail_queued", extra={"event": "mail_queued", "mail_kind": kind, "reference": reference})
    return mail


def mail_retry_delay(*, attempts: int) -> timedelta:
    """How long to wait after the ``attempts``-th failed try: doubling from the base, capped."""
    base = settings.SHOP_MAIL_RETRY_BASE_SECONDS
    return timedelta(seconds=min(base * 2 ** max(attempts - 1, 0), settings.SHOP_MAIL_RETRY_MAX_SECONDS))


def mail_deliver(*, mail_id: int) -> str:
    """One delivery attempt; returns what happened ("sent", "retry", "failed", "unconfirmed", "skipped")."""
    with transaction.atomic():
        # skip_locked: another worker holding this row is sending it right now.
        # A task whose e-mail is not due yet is a duplicate (mail_requeue, or a twin chain that already
        # failed and scheduled the next try): it ends here, so one chain of tries is left per e-mail.
        mail = (
            Mail.objects.select_for_update(skip_locked=True)
            .filter(pk=mail_id, status=MailStatus.PENDING, next_attempt_at__lte=timezone.now())
            .first()
        )
        if mail is None:
            return "skipped"
        try:
            _smtp_send(mail)
        except SMTPOutcomeUnknownError as exc:
            return _outcome_unknown(mail=mail, error=str(exc))
        except Exception as exc:  # any failure is an attempt: retried, then failed for good
            # Only the class is kept and logged: the message of e.g. BadHeaderError quotes the header.
            return _attempt_failed(mail=mail, error=type(exc).__name__)
        mail.attempts += 1
        mail.status = MailStatus.SENT
        mail.sent_at = timezone.now()
        mail.last_error = ""
        mail.save(update_fields=["attempts", "status", "sent_at", "last_error"])
    logger.info(
        "mail_sent",
        extra={"event": "mail_sent", "mail_kind": mail.kind, "reference": mail.reference, "attempts": mail.attempts},
    )
    return "sent"


def mail_requeue() -> int:
    """Enqueue a delivery task for every pending e-mail (after a crash or restart); returns how many."""
    pending = list(Mail.objects.filter(status=MailStatus.PENDING).values_list("pk", "next_attempt_at"))
    for mail_id, next_attempt_at in pending:
        _enqueue(mail_id=mail_id, run_after=next_attempt_at)
    logger.info("mail_requeued", extra={"event": "mail_requeued", "count": len(pending)})
    return len(pending)


def mail_retry_failed(*, mail_ids: list[int]) -> int:
    """Give failed-for-good or unconfirmed e-mails a fresh set of attempts (the admin's action); returns how many."""
    resendable = (MailStatus.FAILED, MailStatus.UNCONFIRMED)
    with transaction.atomic():
        rows = list(Mail.objects.select_for_update().filter(pk__in=mail_ids, status__in=resendable))
        for mail in rows:
            mail.status, mail.attempts, mail.next_attempt_at = MailStatus.PENDING, 0, timezone.now()
            mail.save(update_fields=["status", "attempts", "next_attempt_at"])
            transaction.on_commit(lambda pk=mail.pk: _enqueue(mail_id=pk), robust=True)
    return len(rows)


def mail_prune(*, days: int) -> tuple[int, int]:
    """Delete e-mails sent over ``days`` ago and finished delivery tasks as old; returns (mails, tasks)."""
    from django_tasks_db.models import DBTaskResult

    cutoff = timezone.now() - timedelta(days=days)
    # Pending and failed-for-good e-mails stay: staff resolve the failed ones in the admin first.
    mails, _ = Mail.objects.filter(status=MailStatus.SENT, sent_at__lt=cutoff).delete()
    tasks, _ = DBTaskResult.objects.filter(finished_at__lt=cutoff).delete()
    logger.info("mail_pruned", extra={"event": "mail_pruned", "mails": mails, "tasks": tasks, "days": days})
    return mails, tasks


def _smtp_send(mail: Mail) -> None:
    domain = settings.DEFAULT_FROM_EMAIL.rsplit("@", 1)[-1].strip(">") or "localhost"
    message = EmailMultiAlternatives(
        subject=mail.subject,
        body=mail.text_body,
        to=[mail.to],
        headers={"Message-ID": f"<{mail.uuid}@{domain}>"},
    )
    if mail.html_body:
        message.attach_alternative(mail.html_body, "text/html")
    backend = "mailqueue.smtp.EmailBackend" if settings.EMAIL_BACKEND == DJANGO_SMTP_BACKEND else None
    message.connection = get_connection(backend)
    message.send()


def _outcome_unknown(*, mail: Mail, error: str) -> str:
    """The server has the message but never said so: no automatic retry (it would arrive twice)."""
    mail.attempts += 1
    mail.status = MailStatus.UNCONFIRMED
    mail.last_error = f"No answer after sending ({error})"[:120]
    mail.save(update_fields=["attempts", "status", "last_error"])
    logger.error(
        "mail_unconfirmed",
        extra={
            "event": "mail_unconfirmed",
            "mail_kind": mail.kind,
            "reference": mail.reference,
            "attempts": mail.attempts,
            "error": error,
        },
    )
    return "unconfirmed"


def _attempt_failed(*, mail: Mail, error: str) -> str:
    mail.attempts += 1
    mail.last_error = error[:120]
    final = mail.attempts >= settings.SHOP_MAIL_MAX_ATTEMPTS
    if final:
        mail.status = MailStatus.FAILED
    else:
        mail.next_attempt_at = timezone.now() + mail_retry_delay(attempts=mail.attempts)
        run_after = mail.next_attempt_at
        transaction.on_commit(lambda: _enqueue(mail_id=mail.pk, run_after=run_after), robust=True)
    mail.save(update_fields=["attempts", "last_error", "status", "next_attempt_at"])
    event = "mail_failed_for_good" if final else "mail_attempt_failed"
    (logger.error if final else logger.warning)(
        event,
        extra={
            "event": event,
            "mail_kind": mail.kind,
            "reference": mail.reference,
            "attempts": mail.attempts,
            "error": error,
        },
    )
    return "failed" if final else "retry"


@task()
def mail_deliver_task(mail_id: int) -> str:
    """The task the worker (``manage.py db_worker``) runs: one attempt; the Mail row says whether it went."""
    return mail_deliver(mail_id=mail_id)


def _enqueue(*, mail_id: int, run_after=None) -> None:
    delivery = mail_deliver_task if run_after is None else mail_deliver_task.using(run_after=run_after)
    delivery.enqueue(mail_id=mail_id)
