from django.db import models
from django.db.models import Q


class RestockSignup(models.Model):
    """One request to be told, once, that a sold-out variant is back. Deleted on unsubscribe."""

    variant = models.ForeignKey("catalog.ProductVariant", on_delete=models.CASCADE, related_name="restock_signups")
    email = models.EmailField(help_text="Stored lower-cased.")
    created_at = models.DateTimeField(auto_now_add=True)
    notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("created_at", "pk")
        constraints = [
            # A second sign-up for the same piece and address while the first waits is the same sign-up.
            models.UniqueConstraint(
                fields=["variant", "email"], condition=Q(notified_at__isnull=True), name="restock_one_pending_per_email"
            ),
        ]
        indexes = [
            models.Index(fields=["variant"], condition=Q(notified_at__isnull=True), name="restock_pending_by_variant"),
        ]

    def __str__(self) -> str:
        return f"{self.email} for {self.variant_id}"
