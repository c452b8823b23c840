"""The order confirmation e-mail (text and HTML), sent after the order's transaction commits."""

import logging
import smtplib

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse

from .models import Order
from .services import order_guest_token, payment_instructions

logger = logging.getLogger("shop.orders")


def order_guest_url(*, order: Order) -> str:
    """Absolute signed link to the order, for guests (and anyone reading the e-mail on another device)."""
    path = reverse("orders:guest-order", kwargs={"token": order_guest_token(order=order)})
    return settings.SHOP_SITE_URL.rstrip("/") + path


def order_confirmation_send(*, order_id: int) -> None:
    """Send the confirmation; runs from transaction.on_commit, so a mail failure never undoes the order."""
    order = Order.objects.prefetch_related("lines").get(pk=order_id)
    context = {
        "order": order,
        "lines": order.lines.all(),
        "payment": payment_instructions(order=order),
        "order_url": order_guest_url(order=order),
        "SHOP_NAME": settings.SHOP_NAME,
    }
    subject = f"{settings.SHOP_NAME}: your order {order.number}"
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string("orders/email/confirmation.txt", context),
        to=[order.email],
    )
    message.attach_alternative(render_to_string("orders/email/confirmation.html", context), "text/html")
    try:
        message.send()
    except (smtplib.SMTPException, OSError) as exc:
        # The order stands. The error's class only: SMTP errors can quote the shopper's address.
        logger.error(
            "order_email_failed",
            extra={"event": "order_email_failed", "order_number": order.number, "error": type(exc).__name__},
        )
        return
    logger.info("order_confirmation_sent", extra={"event": "order_confirmation_sent", "order_number": order.number})
