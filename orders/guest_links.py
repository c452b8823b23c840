"""Guest order links: the signed link in the confirmation e-mail, exchanged for a session grant.

The link carries its token in the query string (``/orders/view/?t=...``), which the access logs
(Django's and gunicorn's, path only) never write; the exchange at once redirects to a token-free
page (``/orders/guest/<number>/``) that the grant in the session opens, so the token is not left in
the address bar, the history or a Referer either. Each token names the order's ``guest_link_version``:
staff revoking an order's links bump it, which kills every link and every grant made from one.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.sessions.backends.base import SessionBase
from django.core import signing
from django.db.models import F
from django.urls import reverse
from django.utils.http import urlencode

from .models import Order

GUEST_LINK_SALT = "orders.guest-link"
SESSION_GRANTS = "orders_guest_grants"  # {order number: link version}
MAX_GRANTS = 20

security_log = logging.getLogger("shop.security")


def order_guest_token(*, order: Order) -> str:
    """A signed, expiring token naming the order and its current link version."""
    return signing.dumps({"n": order.number, "v": order.guest_link_version}, salt=GUEST_LINK_SALT)


def order_from_guest_token(*, token: str) -> Order | None:
    """The order a token names, if the token is genuine, younger than SHOP_ORDER_LINK_MAX_AGE and not revoked."""
    try:
        data = signing.loads(token, salt=GUEST_LINK_SALT, max_age=settings.SHOP_ORDER_LINK_MAX_AGE)
    except signing.BadSignature:  # includes SignatureExpired
        return None
    if not isinstance(data, dict) or not isinstance(data.get("n"), str) or not isinstance(data.get("v"), int):
        return None
    return Order.objects.filter(number=data["n"], guest_link_version=data["v"]).first()


def order_guest_url(*, order: Order) -> str:
    """Absolute link to the order for the shopper's e-mails; the token rides in the query string."""
    query = urlencode({"t": order_guest_token(order=order)})
    return settings.SHOP_SITE_URL.rstrip("/") + reverse("orders:guest-link") + "?" + query


def guest_grant_add(*, session: SessionBase, order: Order) -> None:
    """Let this browser session see ``order`` (after a valid link) until its links are revoked."""
    grants = {n: v for n, v in session.get(SESSION_GRANTS, {}).items() if n != order.number}
    grants[order.number] = order.guest_link_version
    session[SESSION_GRANTS] = dict(list(grants.items())[-MAX_GRANTS:])


def order_guest_links_revoke(*, order: Order, actor: AbstractBaseUser | None) -> None:
    """Invalidate every guest link sent for ``order`` and every session opened with one."""
    Order.objects.filter(pk=order.pk).update(guest_link_version=F("guest_link_version") + 1)
    order.refresh_from_db(fields=["guest_link_version"])
    security_log.warning(
        "order_guest_links_revoked",
        extra={
            "event": "order_guest_links_revoked",
            "order_number": order.number,
            "user_id": getattr(actor, "pk", None),
        },
    )
