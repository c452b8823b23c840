"""Read-only views of orders for staff: the admin home's dashboard figures."""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db.models import Count, F, Q, Sum
from django.utils import timezone

from catalog.models import ProductVariant

from .models import Order, OrderStatus

PAID_STATUSES = (OrderStatus.PAID, OrderStatus.SHIPPED, OrderStatus.DELIVERED)


@dataclass(frozen=True)
class OrderFigures:
    awaiting_payment: int
    awaiting_dispatch: int
    today_count: int
    today_value: Decimal  # orders placed today, cancelled ones left out
    today_paid: Decimal  # of those, what has been paid
    day_start: datetime


@dataclass(frozen=True)
class LowStock:
    count: int
    variants: list[ProductVariant] = field(default_factory=list)


def order_figures(*, now: datetime | None = None) -> OrderFigures:
    """Orders waiting for staff and today's orders and takings (the shop's time zone), in one query."""
    local = timezone.localtime(now or timezone.now())
    day_start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    today = Q(created_at__gte=day_start)
    figures = Order.objects.aggregate(
        awaiting_payment=Count("pk", filter=Q(status=OrderStatus.AWAITING_PAYMENT)),
        awaiting_dispatch=Count("pk", filter=Q(status=OrderStatus.PAID)),
        today_count=Count("pk", filter=today),
        today_value=Sum("total", filter=today & ~Q(status=OrderStatus.CANCELLED)),
        today_paid=Sum("total", filter=today & Q(status__in=PAID_STATUSES)),
    )
    zero = Decimal("0.00")
    return OrderFigures(
        awaiting_payment=figures["awaiting_payment"],
        awaiting_dispatch=figures["awaiting_dispatch"],
        today_count=figures["today_count"],
        today_value=figures["today_value"] or zero,
        today_paid=figures["today_paid"] or zero,
        day_start=day_start,
    )


def low_stock(*, limit: int = 8) -> LowStock:
    """Sellable variants at or under their low-stock threshold, emptiest first (two queries)."""
    rows = ProductVariant.objects.sellable().filter(stock__lte=F("low_stock_threshold"))
    first = list(rows.select_related("product").order_by("stock", "sku")[:limit])
    return LowStock(count=rows.count() if len(first) == limit else len(first), variants=first)
