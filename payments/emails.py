"""Payment e-mails to the shopper: payment received, or refunded because it came after the order lapsed."""

import logging
import smtplib

from django.conf import settings
from django.core.mail import EmailMessage
from django.template.loader import render_to_string

from orders.models import Order

logger = logging.getLogger("shop.payments")

SUBJECTS = {
    "paid": "payment received for order {number}",
    "late_refund": "your payment for order {number} has been refunded",
}


def payment_mail_send(*, kind: str, order_id: int) -> None:
    """Runs from transaction.on_commit: a mail failure never undoes the payment's record."""
    order = Order.objects.get(pk=order_id)
    context = {"order": order, "SHOP_NAME": settings.SHOP_NAME}
    message = EmailMessage(
        subject=f"{settings.SHOP_NAME}: " + SUBJECTS[kind].format(number=order.number),
        body=render_to_string(f"payments/email/{kind}.txt", context),
        to=[order.email],
    )
    try:
        message.send()
    except (smtplib.SMTPException, OSError) as exc:
        logger.error(
            "payment_email_failed",
            extra={"event": "payment_email_failed", "order_number": order.number, "error": type(exc).__name__},
        )
