"""Who may see or pay an order: the session that placed it, its signed-in owner, or a guest-link grant.

One selector for every page that shows or takes payment for one order (orders' confirmation, detail
and guest pages; the payments app's pay and charge views), so the rule cannot drift between copies.
"""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.backends.base import SessionBase

from .guest_links import SESSION_GRANTS
from .models import Order

SESSION_PLACED = "orders_placed"  # order numbers this browser session placed (newest last)
MAX_PLACED = 20


def order_remember(*, session: SessionBase, order: Order) -> None:
    """Let the session that placed ``order`` see it (and pay for it) without signing in."""
    placed = [n for n in session.get(SESSION_PLACED, []) if n != order.number]
    session[SESSION_PLACED] = [*placed[-(MAX_PLACED - 1) :], order.number]


def order_for_viewer(
    *, request_session: SessionBase, user: AbstractBaseUser | AnonymousUser, number: str, with_lines: bool = False
) -> Order | None:
    """The order if this session placed it, this user owns it or a guest link granted it (not revoked); else None."""
    orders = Order.objects.prefetch_related("lines") if with_lines else Order.objects.all()
    order = orders.filter(number=number).first()
    if order is None:
        return None
    if number in request_session.get(SESSION_PLACED, []):
        return order
    if user.is_authenticated and order.user_id == user.pk:
        return order
    granted = request_session.get(SESSION_GRANTS, {})
    if isinstance(granted, dict) and granted.get(number) == order.guest_link_version:
        return order
    return None
