"""The task the worker (``manage.py db_worker``) runs: one delivery attempt of one stored e-mail."""

from django_tasks import task

from .services import mail_deliver


@task()
def mail_deliver_task(mail_id: int) -> str:
    """One attempt; the Mail row, not this task's result, says whether the message went."""
    return mail_deliver(mail_id=mail_id)
