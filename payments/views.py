"""The card payment page, its charge call, and Stripe's webhook: thin views over ``payments.services``."""

import json
import logging
import re
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST
from django_ratelimit.core import is_ratelimited
from django_ratelimit.decorators import ratelimit

from orders.access import order_for_viewer
from orders.models import Order
from orders.ratelimits import rate_limited

from .services import (
    PaymentError,
    WebhookHandlerError,
    WebhookShapeError,
    WebhookSignatureError,
    payment_charge,
    payment_payable,
    payment_setup_revoke,
    payment_setup_start,
    payment_webhook_receive,
)

security_log = logging.getLogger("shop.security")
PAYMENT_METHOD_ID = re.compile(r"pm_[A-Za-z0-9_]{1,200}")


def _enabled() -> None:
    if not settings.STRIPE_ENABLED:
        raise Http404("Card payments are not enabled")


def _order_for(request: HttpRequest, number: str) -> Order:
    """The order, for whoever orders.access lets see it; anyone else gets a 404 (logged)."""
    order = order_for_viewer(request_session=request.session, user=request.user, number=number)
    if order is None:
        security_log.warning("order_access_denied", extra={"event": "order_access_denied", "order_number": number})
        raise Http404("No such order")
    return order


def stripe_csp() -> dict[str, list[str]]:
    """What Stripe's script needs on the payment page, and nothing more (no unsafe-inline)."""
    parts = urlsplit(settings.STRIPE_JS_URL)
    origin = f"{parts.scheme}://{parts.netloc}"
    if parts.netloc == "js.stripe.com":
        # Stripe's documented sources for Elements with 3-D Secure.
        return {
            "script-src": [origin],
            "frame-src": [origin, "https://hooks.stripe.com"],
            "connect-src": ["https://api.stripe.com"],
        }
    # localstripe: one origin serves the script and answers its calls; its card fields are not in a frame.
    return {"script-src": [origin], "frame-src": [origin], "connect-src": [origin]}


def _charge_rate(group: str, request: HttpRequest) -> str:
    return settings.SHOP_CARD_ATTEMPTS_PER_IP


def _pay_page_rate(group: str, request: HttpRequest) -> str:
    return settings.SHOP_PAY_PAGE_PER_IP


@require_http_methods(["GET", "HEAD"])
# The page hands out a SetupIntent, against which a card can be checked at Stripe: limited per address too.
@ratelimit(group="card-pay-page", key="ip", rate=_pay_page_rate, method=["GET", "HEAD"])
def pay(request: HttpRequest, number: str) -> HttpResponse:
    """The card step: Stripe's card element, the amount and until when the pieces are reserved."""
    _enabled()
    order = _order_for(request, number)
    if not payment_payable(order=order):
        return redirect("orders:confirmation", number=order.number)
    # Once this address has used up its card attempts, no new card may be checked from here either.
    if is_ratelimited(request, group="card-charge", key="ip", rate=_charge_rate):
        payment_setup_revoke(order=order)
        return rate_limited(request, None)
    try:
        setup_secret = payment_setup_start(order=order)
    except PaymentError as error:
        messages.error(request, str(error))
        return redirect("orders:confirmation", number=order.number)
    response = render(
        request,
        "payments/pay.html",
        {
            "order": order,
            "setup_secret": setup_secret,
            "publishable_key": settings.STRIPE_PUBLISHABLE_KEY,
            "stripe_js_url": settings.STRIPE_JS_URL,
            "charge_url": reverse("payments:charge", kwargs={"number": order.number}),
            "done_url": reverse("orders:confirmation", kwargs={"number": order.number}),
        },
    )
    response._csp_update = stripe_csp()
    return response


@require_POST
# Card testing: stolen numbers tried one after another through our page. Limited per client address.
# method=ALL (the view is POST-only anyway) so that the pay page can read the same counter.
@ratelimit(group="card-charge", key="ip", rate=_charge_rate, method=ratelimit.ALL, block=False)
def charge(request: HttpRequest, number: str) -> JsonResponse:
    """Charge the card the browser just set up (JSON in, JSON out; CSRF header required)."""
    _enabled()
    order = _order_for(request, number)
    if getattr(request, "limited", False):
        # The secret already in the page would still let cards be checked at Stripe without us: ended too.
        payment_setup_revoke(order=order)
        return rate_limited(request, None)
    try:
        body = json.loads(request.body or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = {}
    payment_method = body.get("payment_method") if isinstance(body, dict) else None
    if not isinstance(payment_method, str) or not PAYMENT_METHOD_ID.fullmatch(payment_method):
        return JsonResponse({"status": "error", "message": "Please enter your card details again."}, status=400)
    try:
        result = payment_charge(order=order, payment_method_id=payment_method)
    except PaymentError as error:
        return JsonResponse({"status": "error", "message": str(error)}, status=409)
    data = {"status": result.status, "client_secret": result.client_secret, "message": result.message}
    if result.status == "declined":
        try:
            data["setup_secret"] = payment_setup_start(order=order)  # a fresh one for the next card
        except PaymentError as error:
            data["message"] = str(error)
        return JsonResponse(data, status=402)
    return JsonResponse(data)


@csrf_exempt  # Stripe cannot send our CSRF token; the signature is the check
@require_POST
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    """Stripe's signed events: 400 for a bad signature or shape, 500 when our handler failed (Stripe retries),
    200 once handled or already seen."""
    _enabled()
    try:
        outcome = payment_webhook_receive(payload=request.body, signature=request.headers.get("Stripe-Signature", ""))
    except WebhookSignatureError:
        return HttpResponseBadRequest("bad signature")
    except WebhookShapeError:
        return HttpResponseBadRequest("not an event we read")
    except WebhookHandlerError:
        return HttpResponse("handler error; please retry", status=500, content_type="text/plain")
    return JsonResponse({"outcome": outcome})
