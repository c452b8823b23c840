"""Rate limits on order placement (django-ratelimit): the keys, the rates from settings, and the 429 page.

Keys: the client address (django-ratelimit's "ip", which reads ``RATELIMIT_IP_META_KEY``, our one
client-address helper), the browser session, and the e-mail address typed in the form. A bot that
rotates one of them still meets the other two; the cap on unpaid orders (orders.services) is the last word.
"""

import hashlib
import ipaddress

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.module_loading import import_string


def rate_per_ip(group: str, request: HttpRequest) -> str:
    return settings.SHOP_ORDER_RATE_PER_IP


def rate_per_session(group: str, request: HttpRequest) -> str:
    return settings.SHOP_ORDER_RATE_PER_SESSION


def rate_per_email(group: str, request: HttpRequest) -> str:
    return settings.SHOP_ORDER_RATE_PER_EMAIL


def session_key(group: str, request: HttpRequest) -> str:
    # A visitor without a session yet has no cart to order from; they share one bucket.
    return request.session.session_key or "no-session"


def email_key(group: str, request: HttpRequest) -> str:
    # Hashed: the cache key never holds the address itself.
    email = request.POST.get("email", "").strip().lower()[:254]
    return hashlib.sha256(email.encode()).hexdigest()


def client_address(request: HttpRequest) -> str | None:
    """The client address the rate limits trust (RATELIMIT_IP_META_KEY names the shop's one helper), or None.

    Named through the setting, as django-ratelimit and django-axes do, so ``orders`` never imports
    ``jewelry_site``; recorded on the order and counted by the hold cap (orders.holds)."""
    try:
        return str(ipaddress.ip_address(import_string(settings.RATELIMIT_IP_META_KEY)(request)))
    except ValueError:  # "unknown": a unix socket with no proxy chain in front
        return None


def rate_limited(request: HttpRequest, exception: Exception) -> HttpResponse:
    """The friendly 429 page (RATELIMIT_VIEW), with a Retry-After hint."""
    response = render(request, "429.html", status=429)
    response["Retry-After"] = "600"
    return response
