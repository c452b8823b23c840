"""What Stripe told us and what we asked of it: payments, received webhook events, refunds."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from orders.models import MONEY, Order


class Payment(models.Model):
    """One PaymentIntent made for an order (a declined card, then a good one, makes two)."""

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="payments")
    intent_id = models.CharField(max_length=255, unique=True)
    amount = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3)
    # Stripe's own status words: requires_action, processing, succeeded, canceled, ...
    status = models.CharField(max_length=40)
    # Set once, when Stripe's signed webhook reported success and we acted on it (the only proof we trust).
    succeeded_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-created_at", "-pk")

    def __str__(self) -> str:
        return f"{self.intent_id} ({self.status})"


class StripeEvent(models.Model):
    """A webhook event we acted on, recorded once: a replay or a duplicate finds its row and changes nothing."""

    event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100)
    outcome = models.CharField(max_length=60)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-received_at", "-pk")

    def __str__(self) -> str:
        return f"{self.event_id} {self.type}: {self.outcome}"


class RefundSource(models.TextChoices):
    STAFF = "staff", "Staff, from the admin"
    STRIPE = "stripe", "Made in Stripe's dashboard"
    AUTOMATIC = "automatic", "Automatic (paid after the order was cancelled)"


class RefundStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    # A failed refund never to be sent: staff refunded the payment another way meanwhile.
    SUPERSEDED = "superseded", "Superseded (refunded another way)"


class Refund(models.Model):
    """Money given back for a payment; pending and succeeded ones count against what may still be refunded."""

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    amount = models.DecimalField(**MONEY)
    status = models.CharField(max_length=20, choices=RefundStatus.choices, default=RefundStatus.PENDING)
    source = models.CharField(max_length=20, choices=RefundSource.choices)
    # One form submission, one refund: a double click or a retry finds this row instead of refunding twice.
    idempotency_key = models.CharField(max_length=100, unique=True)
    stripe_refund_id = models.CharField(max_length=255, unique=True, null=True, blank=True)
    restock = models.BooleanField(default=False, help_text="The pieces went back on sale with this refund.")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-created_at", "-pk")
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="payments_refund_amount_positive")]

    def __str__(self) -> str:
        return f"{self.amount} for {self.payment.intent_id} ({self.status})"


class CardSetup(models.Model):
    """The order's SetupIntent, reused on every load of the payment page while a card can still be entered."""

    order = models.OneToOneField(Order, on_delete=models.CASCADE, related_name="card_setup")
    setup_intent_id = models.CharField(max_length=255, unique=True)
    # Stripe's client secret for the browser's card element; it can only confirm this SetupIntent.
    client_secret = models.CharField(max_length=255)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.setup_intent_id
