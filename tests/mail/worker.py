"""Run the real django-tasks-db worker loop in the test's process, until the queue is empty.

The same ``Worker`` class ``manage.py db_worker`` runs, without its signal handlers (they would take
over pytest's Ctrl-C), and with Django's close_old_connections made a no-op: between tasks it would
close the test's connection, which holds the test's open transaction. It sees the test's uncommitted
rows because it shares that connection; the worker as a separate process, against a real SMTP server,
is in tests/mail/test_worker.py.
"""

from unittest import mock

from django_tasks_db.management.commands import db_worker


def mail_worker_run() -> None:
    """Run every task that is due now, then return (the worker's --batch mode)."""
    with mock.patch.object(db_worker, "close_old_connections", return_value=None):
        _worker().run()


def _worker() -> db_worker.Worker:
    return db_worker.Worker(
        queue_names=["default"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=1000,
        worker_id="pytest",
        excluded_queue_names=[],
    )
