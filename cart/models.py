"""The shopping cart, kept in the database so it survives restarts and is shared by every app instance."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class Cart(models.Model):
    """One cart per signed-in user; anonymous carts are found through ``token`` kept in the session.

    The token, not the session key, identifies an anonymous cart because Django cycles the
    session key at sign-in, which is exactly when the cart has to be found and merged.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="cart"
    )
    token = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    def __str__(self) -> str:
        return f"Cart {self.pk} ({self.user or 'anonymous'})"


class CartLine(models.Model):
    cart = models.ForeignKey(Cart, on_delete=models.CASCADE, related_name="lines")
    variant = models.ForeignKey("catalog.ProductVariant", on_delete=models.CASCADE, related_name="cart_lines")
    quantity = models.PositiveIntegerField()
    engraving = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("created_at", "pk")
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="cart_line_quantity_positive"),
            # The same ring with two different engravings is two lines; with the same text it is one.
            models.UniqueConstraint(fields=("cart", "variant", "engraving"), name="cart_line_unique_variant_engraving"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.variant_id}"
