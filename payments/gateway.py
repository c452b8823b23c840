"""The one module that talks to Stripe: client set-up, timeouts, retries and idempotency keys live here.

Everything else calls these functions with plain values and gets plain values back. The API base
comes from ``settings.STRIPE_API_BASE`` (localstripe in tests and local trials), never from code.
Keys are read from settings at call time and never logged: errors are logged by class and code only.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import stripe
from django.conf import settings

# Currencies Stripe counts in whole units (no minor unit); every other one has two decimals here.
# The metadata field that carries a refund's idempotency key (refund_find looks for it).
REFUND_KEY = "shop_refund_key"
ZERO_DECIMAL_CURRENCIES = frozenset({"JPY", "KRW", "VND", "CLP", "ISK", "HUF", "TWD", "UGX", "XAF", "XOF"})


class GatewayError(Exception):
    """Stripe could not be reached or refused the request; ``str()`` is safe to show (no keys, no card data)."""


class CardDeclinedError(GatewayError):
    """The card was refused; the shopper may try another one."""


class RefundRefusedError(GatewayError):
    """Stripe said no to a refund: nothing was refunded, and the same request would be refused again."""


class RefundUnknownError(GatewayError):
    """Stripe did not answer (timeout, connection, 5xx, rate limit): the refund may or may not have been made."""


@dataclass(frozen=True)
class Intent:
    id: str
    status: str
    client_secret: str
    amount_minor: int
    currency: str


def to_minor(amount: Decimal, currency: str) -> int:
    """An amount in the currency's smallest unit, computed with Decimal (never float)."""
    exponent = 0 if currency.upper() in ZERO_DECIMAL_CURRENCIES else 2
    return int((amount * (10**exponent)).quantize(Decimal("1"), rounding=ROUND_HALF_UP))


def from_minor(amount_minor: int, currency: str) -> Decimal:
    exponent = 0 if currency.upper() in ZERO_DECIMAL_CURRENCIES else 2
    return (Decimal(amount_minor) / (10**exponent)).quantize(Decimal("0.01"))


def _client() -> stripe.StripeClient:
    # Built per call: cheap, and tests that point settings at a fresh localstripe get a matching client.
    return stripe.StripeClient(
        settings.STRIPE_SECRET_KEY,
        base_addresses={"api": settings.STRIPE_API_BASE},
        # Network errors and 409/5xx are retried with the same idempotency key, so a retry cannot charge twice.
        max_network_retries=settings.STRIPE_MAX_NETWORK_RETRIES,
        http_client=stripe.RequestsClient(timeout=settings.STRIPE_TIMEOUT_SECONDS),
    )


def _intent(obj) -> Intent:
    return Intent(
        id=obj["id"],
        status=obj["status"],
        client_secret=obj["client_secret"] or "",
        amount_minor=int(obj["amount"]),
        currency=str(obj["currency"]).upper(),
    )


def setup_intent_create(*, order_number: str) -> tuple[str, str]:
    """A SetupIntent (id, client secret): the browser confirms the card against it inside Stripe's element."""
    try:
        intent = _client().v1.setup_intents.create(
            params={"usage": "on_session", "payment_method_types": ["card"], "metadata": {"order_number": order_number}}
        )
    except stripe.StripeError as error:
        raise GatewayError("Card payments are unavailable just now; please try again in a minute.") from error
    return intent["id"], intent["client_secret"]


def setup_intent_status(*, setup_intent_id: str) -> str:
    """A SetupIntent's status now (``requires_payment_method`` while a card can still be entered against it)."""
    try:
        return _client().v1.setup_intents.retrieve(setup_intent_id)["status"]
    except stripe.StripeError as error:
        raise GatewayError("Card payments are unavailable just now; please try again in a minute.") from error


def setup_intent_cancel(*, setup_intent_id: str) -> None:
    """Cancel a SetupIntent: its client secret, already in a browser, can no longer check a card at Stripe."""
    try:
        _client().v1.setup_intents.cancel(setup_intent_id)
    except stripe.InvalidRequestError:
        return  # already used or cancelled: nothing can be checked on it either
    except stripe.StripeError as error:
        raise GatewayError("Stripe did not answer the cancellation.") from error


def payment_intent_create(
    *, order_number: str, amount_minor: int, currency: str, payment_method: str, idempotency_key: str
) -> Intent:
    """Create and confirm a PaymentIntent with the card the browser set up; raise CardDeclinedError if refused."""
    try:
        intent = _client().v1.payment_intents.create(
            params={
                "amount": amount_minor,
                "currency": currency.lower(),
                "payment_method": payment_method,
                "payment_method_types": ["card"],
                "confirm": True,
                "metadata": {"order_number": order_number},
            },
            options={"idempotency_key": idempotency_key},
        )
    except stripe.CardError as error:
        message = getattr(error, "user_message", None) or "Your card was declined."
        raise CardDeclinedError(f"{message} Please try another card.") from error
    except stripe.StripeError as error:
        raise GatewayError(
            "We could not take the payment just now; you have not been charged. Please try again."
        ) from (error)
    return _intent(intent)


def payment_intent_cancel(*, intent_id: str) -> str:
    """Cancel a PaymentIntent so it can no longer be paid; returns its status (Stripe refuses a finished one)."""
    try:
        return _client().v1.payment_intents.cancel(intent_id, options={"idempotency_key": f"cancel-{intent_id}"})[
            "status"
        ]
    except stripe.InvalidRequestError:
        # Already succeeded or cancelled (or unknown to Stripe): report what it is now.
        status = payment_intent_status(intent_id=intent_id)
        # A missing intent can never be paid: to the caller it is as good as cancelled.
        return "canceled" if status == "missing" else status
    except stripe.StripeError as error:
        raise GatewayError("Stripe did not answer the cancellation.") from error


def payment_intent_status(*, intent_id: str) -> str:
    """A PaymentIntent's status as Stripe knows it now (the webhook may not have told us yet)."""
    try:
        return _client().v1.payment_intents.retrieve(intent_id)["status"]
    except stripe.InvalidRequestError as error:
        if getattr(error, "code", None) == "resource_missing" or getattr(error, "http_status", None) == 404:
            return "missing"  # never made with this key (another account or mode): nothing can be paid on it
        raise GatewayError("Stripe refused the request.") from error
    except stripe.StripeError as error:
        raise GatewayError("Stripe did not answer.") from error


def refund_create(*, intent_id: str, amount_minor: int, idempotency_key: str) -> tuple[str, str]:
    """Refund part or all of a PaymentIntent; returns (refund id, status)."""
    try:
        refund = _client().v1.refunds.create(
            # The key also travels as metadata, so refund_find can tell whether an unanswered request was made.
            params={"payment_intent": intent_id, "amount": amount_minor, "metadata": {REFUND_KEY: idempotency_key}},
            options={"idempotency_key": idempotency_key},
        )
    except (stripe.InvalidRequestError, stripe.CardError, stripe.PermissionError) as error:
        raise RefundRefusedError(f"Stripe refused the refund ({type(error).__name__}).") from error
    except stripe.StripeError as error:
        # A timeout may come after Stripe made the refund: only the same key, sent again, finds out safely.
        raise RefundUnknownError(f"Stripe did not answer about the refund ({type(error).__name__}).") from error
    return refund["id"], refund["status"]


def refund_find(*, intent_id: str, idempotency_key: str) -> tuple[str, str] | None:
    """The refund a request with this key made, as (id, status), or None if Stripe made none.

    Asked before an unanswered refund is sent again: Stripe's idempotency keys expire after a day, the
    refund's metadata does not.
    """
    try:
        listing = _client().v1.refunds.list(params={"payment_intent": intent_id, "limit": 100})
        for obj in listing.auto_paging_iter():
            if (obj.to_dict().get("metadata") or {}).get(REFUND_KEY) == idempotency_key:
                return obj["id"], obj["status"]
    except stripe.StripeError as error:
        raise RefundUnknownError(f"Stripe did not list the payment's refunds ({type(error).__name__}).") from error
    return None


def event_construct(*, payload: bytes, signature: str):
    """The webhook event, once its signature is checked against the webhook secret (raises ValueError if not)."""
    try:
        return stripe.Webhook.construct_event(payload, signature, settings.STRIPE_WEBHOOK_SECRET)
    except stripe.SignatureVerificationError as error:
        raise ValueError("bad signature") from error


# --- Reading back what Stripe holds (payments.reconcile) -----------------------------------------
# Read only. Stripe lists newest first; the window is applied here, on each object's ``created``, and
# the listing stops at the first object older than it (Stripe also takes ``created[gte]``/``[lt]``,
# but localstripe, the tests' Stripe, refuses them, so the code the tests run is the code that ships).


@dataclass(frozen=True)
class StripeIntent:
    id: str
    status: str
    amount_minor: int
    currency: str
    order_number: str  # from the intent's metadata; "" when it carries none (not one of ours)
    created: int  # Unix seconds
    charge_id: str  # the latest charge, "" before one


@dataclass(frozen=True)
class StripeRefund:
    id: str
    intent_id: str  # "" for a refund of a charge made without a PaymentIntent (never one of ours)
    amount_minor: int
    currency: str
    status: str  # succeeded, pending, requires_action, failed, canceled
    created: int


@dataclass(frozen=True)
class Listing:
    items: list
    complete: bool  # False when the bound was reached with objects of the window still coming


def _stripe_intent(obj) -> StripeIntent:
    charge = obj.get("latest_charge") or ""
    number = (obj.get("metadata") or {}).get("order_number")
    return StripeIntent(
        id=obj["id"],
        status=obj["status"],
        amount_minor=int(obj["amount"]),
        currency=str(obj["currency"]).upper(),
        order_number=number if isinstance(number, str) else "",
        created=int(obj["created"]),
        # An id from Stripe; localstripe sends the charge itself.
        charge_id=charge if isinstance(charge, str) else str(charge["id"]),
    )


def _stripe_refund(obj, *, intent_id: str = "") -> StripeRefund:
    return StripeRefund(
        id=obj["id"],
        intent_id=obj.get("payment_intent") or intent_id,
        amount_minor=int(obj["amount"]),
        currency=str(obj["currency"]).upper(),
        status=obj.get("status") or "",
        created=int(obj["created"]),
    )


def _window(listing, *, since: int, until: int, limit: int, convert) -> Listing:
    found = []
    for seen, obj in enumerate(listing.auto_paging_iter(), start=1):
        created = int(obj["created"])
        if created < since:
            return Listing(items=found, complete=True)  # newest first: the rest is older still
        if seen > limit:
            return Listing(items=found, complete=False)
        if created < until:
            found.append(convert(obj.to_dict()))
    return Listing(items=found, complete=True)


def payment_intents_list(*, since: int, until: int, limit: int) -> Listing:
    """PaymentIntents created in [since, until) (Unix seconds), at most ``limit`` looked at."""
    try:
        listing = _client().v1.payment_intents.list(params={"limit": 100})
        return _window(listing, since=since, until=until, limit=limit, convert=_stripe_intent)
    except stripe.StripeError as error:
        raise GatewayError(f"Stripe did not list payments ({type(error).__name__}).") from error


def refunds_list(*, since: int, until: int, limit: int) -> Listing:
    """Refunds created in [since, until) (Unix seconds), at most ``limit`` looked at."""
    try:
        listing = _client().v1.refunds.list(params={"limit": 100})
        return _window(listing, since=since, until=until, limit=limit, convert=_stripe_refund)
    except stripe.StripeError as error:
        raise GatewayError(f"Stripe did not list refunds ({type(error).__name__}).") from error


def payment_intent_retrieve(*, intent_id: str) -> StripeIntent | None:
    """One PaymentIntent as Stripe has it now; None if Stripe does not know it."""
    try:
        return _stripe_intent(_client().v1.payment_intents.retrieve(intent_id).to_dict())
    except stripe.InvalidRequestError as error:
        if getattr(error, "http_status", None) == 404:
            return None
        raise GatewayError(f"Stripe refused to read a payment ({type(error).__name__}).") from error
    except stripe.StripeError as error:
        raise GatewayError(f"Stripe did not answer for a payment ({type(error).__name__}).") from error


def intent_refunds_list(*, intent_id: str, limit: int = 100) -> list[StripeRefund]:
    """Every refund of one PaymentIntent (a payment is refunded a few times at most)."""
    try:
        listing = _client().v1.refunds.list(params={"payment_intent": intent_id, "limit": 100})
        refunds = []
        for obj in listing.auto_paging_iter():
            # Asked by intent, so it is this intent's (localstripe leaves it empty on a refund by charge).
            refunds.append(_stripe_refund(obj.to_dict(), intent_id=intent_id))
            if len(refunds) >= limit:
                break
        return refunds
    except stripe.StripeError as error:
        raise GatewayError(f"Stripe did not list a payment's refunds ({type(error).__name__}).") from error
