"""An order's history as the shopper reads it: the same OrderEvent rows staff see, in the shop's words.

Staff notes stay internal; what the shopper reads comes from the status reached and the event's reason.
"""

from dataclasses import dataclass
from datetime import datetime

from catalog.money import format_money

from .models import EventReason, Order, OrderEvent, OrderStatus, ShippingMethod


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    text: str


def _event_text(*, order: Order, event: OrderEvent) -> str:
    if event.reason == EventReason.REFUND:
        return f"Refunded {format_money(event.amount)}"
    status = event.to_status
    if not event.from_status:
        return "Order placed"
    if status == OrderStatus.PAID:
        return "Payment received"
    if status == OrderStatus.SHIPPED:
        carrier = order.get_carrier_display() or "our carrier"
        return f"On its way with {carrier}" + (
            f", tracking number {order.tracking_number}" if order.tracking_number else ""
        )
    if status == OrderStatus.READY_FOR_COLLECTION:
        return "Ready to collect from our boutique"
    if status == OrderStatus.DELIVERED:
        return "Collected" if order.shipping_method == ShippingMethod.COLLECT else "Delivered"
    if status == OrderStatus.CANCELLED:
        if event.reason == EventReason.PAYMENT_TIMEOUT:
            return "Cancelled: payment not received in time"
        return "Cancelled by the shop"
    return OrderStatus(status).label


def order_history_for_shopper(*, order: Order, events: list[OrderEvent]) -> list[HistoryEntry]:
    """Each event of ``order`` (oldest first) as one line a shopper understands."""
    return [HistoryEntry(at=event.created_at, text=_event_text(order=order, event=event)) for event in events]
