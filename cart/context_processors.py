"""``cart_count`` for the header on every page: lazy, one query at most, none without a cart."""

import operator

from django.db.models import Sum
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject, new_method_proxy

from .cart import session_cart_token
from .models import CartLine


class LazyCount(SimpleLazyObject):
    """A lazily computed int that also works with int(), float() (|pluralize, |add) and comparisons."""

    __int__ = new_method_proxy(int)
    __float__ = new_method_proxy(float)
    __index__ = new_method_proxy(operator.index)


def _count(request: HttpRequest) -> int:
    if request.user.is_authenticated:
        lines = CartLine.objects.filter(cart__user_id=request.user.pk)
    else:
        token = session_cart_token(request)
        if token is None:
            return 0
        lines = CartLine.objects.filter(cart__token=token, cart__user__isnull=True)
    return lines.aggregate(n=Sum("quantity"))["n"] or 0


def cart(request: HttpRequest) -> dict:
    # Lazy: pages that never print the count (admin, e-mails) pay nothing.
    return {"cart_count": LazyCount(lambda: _count(request))}
