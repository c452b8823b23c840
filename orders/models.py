"""Orders: a snapshot of what was bought, at which price, shipped where, and how its status moved."""

from decimal import Decimal

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from accounts.models import PostalAddress
from catalog.models import ProductVariant

from .carriers import Carrier, carrier_tracking_url


class OrderStatus(models.TextChoices):
    AWAITING_PAYMENT = "awaiting_payment", "Awaiting payment"
    PAID = "paid", "Paid"
    READY_FOR_COLLECTION = "ready_for_collection", "Ready for collection"
    SHIPPED = "shipped", "Shipped"
    DELIVERED = "delivered", "Delivered"
    CANCELLED = "cancelled", "Cancelled"


class ShippingMethod(models.TextChoices):
    STANDARD = "standard", "Standard tracked delivery"
    EXPRESS = "express", "Insured express delivery"
    COLLECT = "collect", "Collect from our boutique"


class EventReason(models.TextChoices):
    """Why an event happened, when the shopper should be told (the staff note stays internal)."""

    PAYMENT_TIMEOUT = "payment_timeout", "Payment not received in time"
    SHOP = "shop", "Cancelled by the shop"
    REFUND = "refund", "Refund"


class PaymentMethod(models.TextChoices):
    BANK_TRANSFER = "bank_transfer", "Bank transfer"
    ON_COLLECTION = "on_collection", "Pay on collection"
    CARD = "card", "Card"  # offered only when card payments are configured (payments/, issue #11)


MONEY = {"max_digits": 12, "decimal_places": 2}


class Order(PostalAddress):
    number = models.CharField(max_length=20, unique=True, editable=False)
    # One checkout form, one order: a resubmit with the same token finds this order instead of a new one.
    checkout_token = models.UUIDField(unique=True, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="orders"
    )
    email = models.EmailField()
    status = models.CharField(
        max_length=20, choices=OrderStatus.choices, default=OrderStatus.AWAITING_PAYMENT, db_index=True
    )
    payment_method = models.CharField(max_length=20, choices=PaymentMethod.choices)

    shipping_method = models.CharField(max_length=20, choices=ShippingMethod.choices)
    shipping_cost = models.DecimalField(**MONEY)
    subtotal = models.DecimalField(**MONEY)
    engraving_total = models.DecimalField(**MONEY, default=Decimal("0.00"))
    total = models.DecimalField(**MONEY)
    gift_message = models.TextField(max_length=300, blank=True)
    # Entered by staff when the parcel leaves (issue #14); the e-mail and the order page link to the carrier.
    carrier = models.CharField(max_length=20, choices=Carrier.choices, blank=True)
    tracking_number = models.CharField(
        max_length=40,
        blank=True,
        validators=[RegexValidator(r"^[A-Za-z0-9][A-Za-z0-9 -]{3,39}$", "Letters, digits, spaces and dashes only.")],
    )
    # Until when the pieces stay reserved for an unpaid order (issue #11); the expiry job cancels it after.
    payment_deadline = models.DateTimeField(null=True, blank=True)
    # Named in every guest link (orders.guest_links); staff revoking the links bump it.
    guest_link_version = models.PositiveIntegerField(default=1, editable=False)
    # The hold cap (orders.holds, issue #20): who placed it and what it holds, summed without reading lines.
    client_ip = models.GenericIPAddressField(null=True, blank=True, editable=False)
    # The address the cap counts by: an IPv4 address, or an IPv6 network (SHOP_HOLD_IPV6_PREFIX, /56: a household's).
    client_key = models.CharField(max_length=64, blank=True, editable=False)
    pieces = models.PositiveIntegerField(default=0, editable=False)
    one_of_a_kind = models.BooleanField(
        default=False, editable=False, help_text="Took the only piece left of a variant: a short offline hold."
    )

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-created_at", "-pk")
        indexes = [
            # The expiry job's query: unpaid orders past their deadline.
            models.Index(
                fields=["payment_deadline"],
                name="orders_unpaid_deadline_idx",
                condition=Q(status="awaiting_payment"),
            ),
            # The hold cap's sum per client address (orders.holds): unpaid orders only.
            models.Index(
                fields=["client_key"],
                name="orders_unpaid_client_idx",
                condition=Q(status="awaiting_payment"),
            ),
        ]
        # The shipping export holds every selected customer's name, address and phone: its own permission.
        permissions = [("export_order", "Can export orders for shipping (names, addresses, phones)")]
        constraints = [
            models.CheckConstraint(condition=Q(total__gte=0), name="orders_order_total_not_negative"),
            models.CheckConstraint(condition=Q(shipping_cost__gte=0), name="orders_order_shipping_not_negative"),
            models.CheckConstraint(
                condition=Q(total=models.F("subtotal") + models.F("engraving_total") + models.F("shipping_cost")),
                name="orders_order_total_adds_up",
            ),
        ]

    def __str__(self) -> str:
        return self.number

    def get_absolute_url(self) -> str:
        return reverse("orders:order-detail", kwargs={"number": self.number})

    @property
    def tracking_url(self) -> str:
        return carrier_tracking_url(carrier=self.carrier, tracking_number=self.tracking_number)

    @property
    def is_payable_by_card(self) -> bool:
        """Still open for a card payment: the payment page offers it, the expiry job has not ended it."""
        return (
            self.payment_method == PaymentMethod.CARD
            and self.status == OrderStatus.AWAITING_PAYMENT
            and (self.payment_deadline is None or self.payment_deadline > timezone.now())
        )

    @property
    def is_cancellable(self) -> bool:
        return self.status in (OrderStatus.AWAITING_PAYMENT, OrderStatus.PAID)

    @property
    def goods_total(self) -> Decimal:
        """What the hold cap counts: pieces and engraving, before delivery."""
        return self.subtotal + self.engraving_total


class OrderLine(models.Model):
    """What was bought, copied at the time: later catalogue edits never change a past order."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    variant = models.ForeignKey(
        ProductVariant, null=True, blank=True, on_delete=models.SET_NULL, related_name="order_lines"
    )
    product_name = models.CharField(max_length=200)
    sku = models.CharField("SKU", max_length=64)
    options_label = models.CharField(max_length=120, blank=True)
    unit_price = models.DecimalField(**MONEY)
    quantity = models.PositiveIntegerField()
    engraving = models.CharField(max_length=64, blank=True)
    engraving_fee = models.DecimalField(**MONEY, default=Decimal("0.00"), help_text="Per piece.")
    line_total = models.DecimalField(**MONEY)

    class Meta:
        ordering = ("pk",)
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="orders_line_quantity_positive"),
            models.CheckConstraint(condition=Q(unit_price__gte=0), name="orders_line_unit_price_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.product_name} ({self.sku})"


class OrderEvent(models.Model):
    """One status change: who, when, from, to and why. Written only by ``orders.services`` and ``orders.workflow``."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    from_status = models.CharField(max_length=20, choices=OrderStatus.choices, blank=True)
    to_status = models.CharField(max_length=20, choices=OrderStatus.choices)
    note = models.CharField(max_length=500, blank=True)  # staff's words: never shown to the shopper
    reason = models.CharField(max_length=20, choices=EventReason.choices, blank=True)
    amount = models.DecimalField(**MONEY, null=True, blank=True, help_text="A refund's amount.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("created_at", "pk")

    def __str__(self) -> str:
        before = OrderStatus(self.from_status).label if self.from_status else "New"
        return f"{before} → {OrderStatus(self.to_status).label}"


class LowStockVariant(ProductVariant):
    """Proxy so the orders admin can list variants at or under their low-stock threshold
    (catalog/admin.py belongs to the catalogue; this view belongs to fulfilment)."""

    class Meta:
        proxy = True
        verbose_name = "low-stock variant"
        verbose_name_plural = "low-stock variants"


class HeldOrder(Order):
    """Proxy so the orders admin can list unpaid orders as holds: pieces, value, deadline, who placed them."""

    class Meta:
        proxy = True
        verbose_name = "unpaid hold"
        verbose_name_plural = "unpaid holds"
