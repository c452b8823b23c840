"""The shopper's order e-mails (text and HTML): what each says, queued through ``mailqueue.mail_send``.

Each is written inside the transaction of the change it tells of, so the e-mail exists if and only if
the change committed; the worker sends it afterwards (never inside a lock or a request).
"""

from django.conf import settings

from mailqueue.services import mail_send

from .boutique import boutique
from .guest_links import order_guest_url
from .models import Order, OrderEvent, OrderStatus
from .payment_instructions import payment_instructions

# Status reached -> (e-mail kind, subject after "<shop>: "). DELIVERED sends nothing: the shopper knows.
STATUS_MAILS: dict[str, tuple[str, str]] = {
    OrderStatus.PAID: ("order_paid", "payment received for order {number}"),
    OrderStatus.SHIPPED: ("order_shipped", "order {number} is on its way"),
    OrderStatus.READY_FOR_COLLECTION: ("order_ready", "order {number} is ready for collection"),
    OrderStatus.CANCELLED: ("order_cancelled", "order {number} has been cancelled"),
}


def order_email_confirmed(*, order: Order) -> bool:
    """Whether the order's e-mail address is known to belong to the shopper who placed it (issue 21).

    Only an address the identity provider verified is: a signed-in shopper's provider account takes its
    e-mail only when the provider says it is verified (accounts.services.user_sync_from_oidc), so the
    order's address is confirmed when it is that account's. An address typed at guest checkout, or a
    password account's (sign-up does not verify it), or a different address typed by a signed-in shopper
    may be anyone's: the e-mails to it carry none of the shopper's free text as written (see
    templates/orders/email/)."""
    user = order.user
    account_email = (getattr(user, "email", "") or "").strip().lower()
    return bool(user and getattr(user, "oidc_sub", None) and account_email == order.email.strip().lower())


def _order_mail(*, order: Order, kind: str, subject: str, extra: dict | None = None) -> None:
    context = {
        # False: the gift message is left out and typed names/addresses lose their links (shop_text).
        "email_confirmed": order_email_confirmed(order=order),
        "order": order,
        "lines": order.lines.all(),
        "boutique": boutique(),
        "order_url": order_guest_url(order=order),
        "tracking_url": order.tracking_url,
        **(extra or {}),
    }
    mail_send(
        to=order.email,
        subject=f"{settings.SHOP_NAME}: {subject.format(number=order.number)}",
        template=f"orders/email/{kind.removeprefix('order_')}",
        context=context,
        kind=kind,
        reference=order.number,
    )


def order_confirmation_queue(*, order: Order) -> None:
    """Queue the confirmation of a just-placed order (inside its transaction)."""
    _order_mail(
        order=order,
        kind="order_confirmation",
        subject="your order {number}",
        extra={"payment": payment_instructions(order=order)},
    )


def order_status_mail_queue(*, order: Order, event: OrderEvent) -> None:
    """Queue the e-mail for a status the order has just reached, if that status has one."""
    if event.to_status not in STATUS_MAILS:
        return
    kind, subject = STATUS_MAILS[event.to_status]
    _order_mail(order=order, kind=kind, subject=subject, extra={"event": event})


def order_refund_mail_queue(*, order: Order, event: OrderEvent) -> None:
    """Queue the e-mail telling the shopper a refund is on its way."""
    _order_mail(order=order, kind="order_refunded", subject="refund for order {number}", extra={"event": event})
