"""Checkout, confirmation and order history: thin views over ``orders.services``."""

import logging

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_safe
from django_ratelimit.decorators import ratelimit

from cart.cart import cart_for_request, cart_lines, cart_summary
from cart.services import cart_reconcile

from .access import SESSION_PLACED, order_for_viewer, order_remember
from .boutique import boutique
from .checkout_display import checkout_display, checkout_initial
from .forms import CheckoutForm, checkout_token_issue
from .guest_links import guest_grant_add, order_from_guest_token
from .history import order_history_for_shopper
from .models import Order
from .payment_instructions import payment_instructions
from .ratelimits import client_address
from .services import (
    CartEmptyError,
    OrderError,
    OutOfStockError,
    PriceChangedError,
    order_place,
    payment_start,
)

security_log = logging.getLogger("shop.security")


def _placed(request: HttpRequest, order: Order) -> HttpResponse:
    order_remember(session=request.session, order=order)
    payment = payment_start(order=order)
    return redirect(payment.redirect_url or reverse("orders:confirmation", kwargs={"number": order.number}))


def _out_of_stock(request: HttpRequest, cart, error: OutOfStockError) -> HttpResponse:
    cart_reconcile(lines=cart_lines(cart))
    for short in error.short:
        messages.error(
            request,
            f"{short.label}: you asked for {short.requested}, {short.available} left. "
            "Your bag has been updated; please check it before ordering.",
        )
    return redirect("cart:detail")


@require_http_methods(["GET", "HEAD", "POST"])
# Order placement is rate-limited per client address, session and e-mail (issue #11; orders/ratelimits.py).
@ratelimit(group="order-place", key="ip", rate="orders.ratelimits.rate_per_ip", method="POST")
@ratelimit(
    group="order-place", key="orders.ratelimits.session_key", rate="orders.ratelimits.rate_per_session", method="POST"
)
@ratelimit(
    group="order-place", key="orders.ratelimits.email_key", rate="orders.ratelimits.rate_per_email", method="POST"
)
def checkout(request: HttpRequest) -> HttpResponse:
    """The checkout form with a server-side summary; a valid POST places the order (idempotently).

    Whatever goes wrong short of the stock (a typo, an expired form, a price that moved) shows the
    form again with everything the shopper typed and the current total.
    """
    cart = cart_for_request(request)
    form = CheckoutForm(request.POST or None, cart=cart, user=request.user)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                order = order_place(
                    cart=cart,
                    user=request.user,
                    session_orders=request.session.get(SESSION_PLACED, []),
                    client_ip=client_address(request),
                    **form.placement(),
                )
            except OutOfStockError as error:
                return _out_of_stock(request, cart, error)
            except CartEmptyError as error:
                messages.info(request, str(error))
                return redirect("cart:detail")
            except PriceChangedError as error:
                form.add_error(None, str(error))
                form.refresh_goods_total(error.total)
                status = 409
            except OrderError as error:  # e.g. the hold cap (orders.holds): the bag page says what to do
                messages.error(request, str(error))
                return redirect("cart:detail")
            else:
                return _placed(request, order)

    lines = cart_lines(cart)
    for note in cart_reconcile(lines=lines):
        messages.warning(request, note)
    if not lines:
        messages.info(request, "Your bag is empty.")
        return redirect("cart:detail")
    summary = cart_summary(cart, lines=lines)
    if request.method != "POST":
        initial = {**checkout_initial(user=request.user), "expected_goods_total": summary.total}
        form = CheckoutForm(
            initial={**initial, "checkout_token": checkout_token_issue(cart=cart)}, cart=cart, user=request.user
        )
    elif "checkout_token" in form.errors:
        form.refresh_token(checkout_token_issue(cart=cart), summary.total)
    elif "expected_goods_total" in form.errors:
        # Shown the total now, so the next submit confirms a price the shopper has seen.
        form.refresh_goods_total(summary.total)
    return render(request, "orders/checkout.html", checkout_display(form=form, summary=summary), status=status)


def _deny(request: HttpRequest, number: str) -> Http404:
    security_log.warning(
        "order_access_denied",
        extra={
            "event": "order_access_denied",
            "order_number": number[:40],
            "user_id": request.user.pk if request.user.is_authenticated else None,
        },
    )
    return Http404("No such order")


def _order_context(order: Order) -> dict:
    return {
        "order": order,
        "lines": order.lines.all(),
        "history": order_history_for_shopper(order=order, events=list(order.events.all())),
        "payment": payment_instructions(order=order),
        "boutique": boutique(),
    }


def _order_for(request: HttpRequest, number: str) -> Order | None:
    return order_for_viewer(request_session=request.session, user=request.user, number=number, with_lines=True)


@require_safe
def confirmation(request: HttpRequest, number: str) -> HttpResponse:
    """Thank-you page: for the session that placed the order, its signed-in owner or a guest-link grant."""
    order = _order_for(request, number)
    if order is None:
        raise _deny(request, number)
    return render(request, "orders/confirmation.html", _order_context(order))


@require_safe
@login_required
def order_list(request: HttpRequest) -> HttpResponse:
    orders = Order.objects.filter(user=request.user).order_by("-created_at", "-pk")
    page = Paginator(orders, 20).get_page(request.GET.get("page"))
    return render(request, "orders/order_list.html", {"page_obj": page, "orders": page.object_list})


@require_safe
@login_required
def order_detail(request: HttpRequest, number: str) -> HttpResponse:
    """An order the signed-in user may see (orders.access); anyone else's number is a 404 (logged), staff included."""
    order = _order_for(request, number)
    if order is None:
        raise _deny(request, number)
    return render(request, "orders/order_detail.html", _order_context(order))


@require_safe
def guest_link(request: HttpRequest, token: str = "") -> HttpResponse:
    """The confirmation e-mail's link: a valid token becomes a session grant, then a token-free redirect."""
    order = order_from_guest_token(token=token or request.GET.get("t", ""))
    if order is None:
        raise _deny(request, "guest-link")
    guest_grant_add(session=request.session, order=order)
    return redirect("orders:guest-order", number=order.number)


@require_safe
def guest_order(request: HttpRequest, number: str) -> HttpResponse:
    """An order this browser opened through a guest link (no account needed), until staff revoke its links."""
    order = _order_for(request, number)
    if order is None:
        raise _deny(request, number)
    return render(request, "orders/order_detail.html", {**_order_context(order), "guest_view": True})
