"""Sign-in hook: the anonymous cart follows the shopper into their account.

cart listens to Django's ``user_logged_in`` rather than accounts calling cart, so accounts stays
independent of the shop (shared/style.md, "Which way dependencies run").
"""

from django.contrib import messages
from django.db import IntegrityError, transaction

from .cart import SESSION_KEY, session_cart_token
from .models import Cart
from .services import cart_merge


def merge_cart_on_login(sender, request, user, **kwargs) -> None:
    session = getattr(request, "session", None)
    if session is None:
        return
    token = session_cart_token(request)
    session.pop(SESSION_KEY, None)
    if token is None:
        return
    source = Cart.objects.filter(token=token, user__isnull=True).first()
    if source is None:
        return
    target = Cart.objects.filter(user=user).first()
    if target is None:
        try:
            with transaction.atomic():
                Cart.objects.filter(pk=source.pk, user__isnull=True).update(user=user)
            return
        except IntegrityError:  # a concurrent sign-in created the user's cart first: merge into it
            target = Cart.objects.get(user=user)
    for note in cart_merge(source=source, target=target):
        messages.warning(request, note, fail_silently=True)
