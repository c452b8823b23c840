"""Checkout, confirmation and order history: thin views over ``orders.services``."""

import logging

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_safe
from django_ratelimit.decorators import ratelimit

from accounts.models import POSTAL_ADDRESS_FIELDS
from accounts.selectors import address_checkout_initial
from cart.cart import cart_for_request, cart_lines, cart_summary
from cart.services import cart_reconcile

from .forms import CheckoutForm, checkout_token_issue
from .guest_links import order_from_guest_token
from .history import order_history_for_shopper
from .models import Order, ShippingMethod
from .payment_instructions import payment_instructions
from .services import (
    CartEmptyError,
    OrderError,
    OutOfStockError,
    PriceChangedError,
    ShippingAddress,
    order_place,
    payment_start,
    shipping_cost,
)

security_log = logging.getLogger("shop.security")

SESSION_PLACED = "orders_placed"
ADDRESS_FIELDS = POSTAL_ADDRESS_FIELDS


def _initial(request: HttpRequest) -> dict:
    """Prefill for signed-in shoppers: their e-mail, and the address of their latest order."""
    if not request.user.is_authenticated:
        return {}
    initial = {"email": request.user.email}
    last = Order.objects.filter(user=request.user).order_by("-created_at", "-pk").first()
    if last is not None:
        initial.update({field: getattr(last, field) for field in ADDRESS_FIELDS})
        initial["shipping_method"] = last.shipping_method
        initial["email"] = request.user.email or last.email
    # A saved default address (accounts) is the shopper's explicit choice: it wins over the last order's.
    initial.update(address_checkout_initial(user=request.user))
    return initial


def _shipping_options(subtotal) -> list[tuple[str, str, object]]:
    return [(value, label, shipping_cost(method=value, subtotal=subtotal)) for value, label in ShippingMethod.choices]


def _remember_order(request: HttpRequest, order: Order) -> None:
    # The session that placed an order may see its confirmation without signing in.
    placed = [n for n in request.session.get(SESSION_PLACED, []) if n != order.number]
    request.session[SESSION_PLACED] = [*placed[-19:], order.number]


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
    """Show the checkout form with a server-side summary; on POST place the order (idempotently)."""
    cart = cart_for_request(request)
    form = CheckoutForm(request.POST or None, cart=cart)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                order = order_place(
                    cart=cart,
                    checkout_token=data["checkout_token"],
                    email=data["email"],
                    shipping_address=ShippingAddress(**{field: data[field] for field in ADDRESS_FIELDS}),
                    shipping_method=data["shipping_method"],
                    payment_method=data["payment_method"],
                    gift_message=data["gift_message"],
                    user=request.user,
                    expected_goods_total=data["expected_goods_total"],
                    session_orders=request.session.get(SESSION_PLACED, []),
                )
            except OutOfStockError as error:
                cart_reconcile(lines=cart_lines(cart))
                for short in error.short:
                    messages.error(
                        request,
                        f"{short.label}: you asked for {short.requested}, {short.available} left. "
                        "Your bag has been updated; please check it before ordering.",
                    )
                return redirect("cart:detail")
            except CartEmptyError as error:
                messages.info(request, str(error))
                return redirect("cart:detail")
            except PriceChangedError as error:
                messages.warning(request, str(error))
                return redirect("orders:checkout")
            except OrderError as error:  # e.g. too many unpaid orders (issue #11)
                messages.error(request, str(error))
                return redirect("cart:detail")
            _remember_order(request, order)
            payment = payment_start(order=order)
            if payment.redirect_url:
                return redirect(payment.redirect_url)
            return redirect("orders:confirmation", number=order.number)
        status = 400

    lines = cart_lines(cart)
    for note in cart_reconcile(lines=lines):
        messages.warning(request, note)
    if not lines:
        messages.info(request, "Your bag is empty.")
        return redirect("cart:detail")
    summary = cart_summary(cart, lines=lines)
    if request.method != "POST":
        form = CheckoutForm(
            initial={
                **_initial(request),
                "checkout_token": checkout_token_issue(cart=cart),
                "expected_goods_total": summary.total,
            },
            cart=cart,
        )
    elif "checkout_token" in form.errors:
        # Re-issue so the shopper can simply submit again after reviewing.
        form.data = form.data.copy()
        form.data["checkout_token"] = checkout_token_issue(cart=cart)
        form.data["expected_goods_total"] = str(summary.total)
    chosen = form["shipping_method"].value() or ShippingMethod.STANDARD
    try:
        shipping = shipping_cost(method=chosen, subtotal=summary.subtotal)
    except OrderError:  # an invalid choice was posted: price the default instead
        shipping = shipping_cost(method=ShippingMethod.STANDARD, subtotal=summary.subtotal)
    context = {
        "form": form,
        "summary": summary,
        "shipping": shipping,
        "total": summary.total + shipping,
        "shipping_options": _shipping_options(summary.subtotal),
    }
    return render(request, "orders/checkout.html", context, status=status)


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
    }


def _order_with_lines(number: str) -> Order | None:
    return Order.objects.prefetch_related("lines").filter(number=number).first()


@require_safe
def confirmation(request: HttpRequest, number: str) -> HttpResponse:
    """Thank-you page: for the session that placed the order, or its signed-in owner."""
    order = _order_with_lines(number)
    allowed = order is not None and (
        number in request.session.get(SESSION_PLACED, [])
        or (request.user.is_authenticated and order.user_id == request.user.pk)
    )
    if not allowed:
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
    """An order of the signed-in user; anyone else's number is a 404 (and logged), staff included."""
    order = _order_with_lines(number)
    if order is None or order.user_id != request.user.pk:
        raise _deny(request, number)
    return render(request, "orders/order_detail.html", _order_context(order))


@require_safe
def guest_order(request: HttpRequest, token: str) -> HttpResponse:
    """The order behind a signed link from the confirmation e-mail (no account needed)."""
    order = order_from_guest_token(token=token)
    if order is None:
        raise _deny(request, "guest-link")
    return render(request, "orders/order_detail.html", {**_order_context(order), "guest_view": True})
