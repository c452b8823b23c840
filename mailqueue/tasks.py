"""The old home of the delivery task, kept so task rows queued before it moved still import.

Queued rows name the task by its dotted path (``mailqueue.tasks.mail_deliver_task``); the task now
lives beside ``mail_deliver`` in mailqueue.services. Remove this module one release after that move,
once no queued row can name it (``mail_prune`` deletes finished task rows; pending ones are re-queued
under the new name by ``mail_requeue`` at each worker start).
"""

from .services import mail_deliver_task

__all__ = ["mail_deliver_task"]
