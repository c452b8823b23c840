"""The client's address, read from the one trusted hop of our proxy chain: the single place that decides it.

Every consumer (login lockouts, rate limits, security logs) calls :func:`client_ip` directly or names it in
settings (django-ratelimit's ``RATELIMIT_IP_META_KEY``, django-axes' ``AXES_CLIENT_IP_CALLABLE``), so
apps below ``jewelry_site`` never import it.
"""

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest | None) -> str:
    """The client's address: REMOTE_ADDR, or the X-Forwarded-For hop our own proxies appended.

    SHOP_TRUSTED_PROXY_HOPS counts our proxies (nginx = 1, Lightsail load balancer + nginx = 2);
    only the entry those proxies wrote is trusted, so a client cannot choose its own address.
    """
    if request is None:
        return "unknown"
    hops = getattr(settings, "SHOP_TRUSTED_PROXY_HOPS", 0)
    forwarded = [p.strip() for p in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if p.strip()]
    if hops and len(forwarded) >= hops:
        return forwarded[-hops][:64]
    return (request.META.get("REMOTE_ADDR") or "unknown")[:64]
