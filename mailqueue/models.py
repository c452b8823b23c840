"""One row per shopper e-mail: the message itself, whether it went, and how many tries it took."""

import uuid

from django.db import models
from django.db.models import Q


class MailStatus(models.TextChoices):
    PENDING = "pending", "Waiting to be sent"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed for good"
    # The server took the whole message and never answered: probably delivered, so never re-sent by itself.
    UNCONFIRMED = "unconfirmed", "Sent, not confirmed by the server"


class Mail(models.Model):
    """Written in the same transaction as the event it tells of, so the two commit or vanish together."""

    # Also the Message-ID: a receiver can spot the rare duplicate (sent, then the database went away).
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    to = models.EmailField()
    subject = models.CharField(max_length=250)
    text_body = models.TextField()
    html_body = models.TextField(blank=True)
    kind = models.CharField(max_length=40, help_text="Which e-mail this is, e.g. order_shipped.")
    reference = models.CharField(max_length=60, blank=True, db_index=True, help_text="e.g. the order number.")
    status = models.CharField(max_length=12, choices=MailStatus.choices, default=MailStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    # The error's class only: SMTP error texts can quote the shopper's address.
    last_error = models.CharField(max_length=120, blank=True)
    next_attempt_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at", "-pk")
        indexes = [
            models.Index(fields=["next_attempt_at"], name="mail_pending_idx", condition=Q(status="pending")),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status="sent", sent_at__isnull=False) | ~Q(status="sent"), name="mail_sent_has_time"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.reference}".strip()
