"""The client's address and scheme, read from the one trusted hop of our proxy chain: the single place that decides it.

Production's chain (deploy/cloudformation/shop.yaml builds it) and what each hop adds:

1. browser -> CloudFront (HTTPS; HTTP is redirected): CloudFront appends the viewer's address to
   X-Forwarded-For and adds ``X-Origin-Verify`` (the origin secret).
2. CloudFront -> Lightsail load balancer (HTTPS): the balancer appends CloudFront's edge address and sets
   ``X-Forwarded-Proto`` to its listener's scheme, overwriting any value sent to it.
3. load balancer -> nginx (HTTP, port 80 of the instance): nginx appends the balancer's private address
   and passes X-Forwarded-Proto on unchanged (deploy/jewelry_proxy.conf).
4. nginx -> gunicorn (unix socket) -> Django.

So Django sees ``X-Forwarded-For: <anything the client made up>, <client>, <edge>, <load balancer>``: our
three proxies wrote the last three entries and the client is the third from the right
(``SHOP_TRUSTED_PROXY_HOPS = 3``, prod's default; 2 without CloudFront, 1 behind nginx alone, 0 when
gunicorn faces the client). Entries further left came from the client and are never trusted. A request
with fewer entries than hops did not come through the chain: its address is REMOTE_ADDR (``unknown`` on
gunicorn's unix socket), and it is refused anyway unless it is a health probe.

Why the chain can be trusted at all:

* The instance's port 80 is open only to the load balancer's private range (172.26.0.0/16), so nobody
  else can talk to nginx and set X-Forwarded-For or X-Forwarded-Proto themselves.
* The load balancer itself is public, so a client could skip CloudFront and forge the entries
  CloudFront would have written: ``jewelry_site.origin_verify.OriginVerifyMiddleware`` answers 403 to
  any request without CloudFront's secret ``X-Origin-Verify`` header (load-balancer health probes
  excepted; they never reach a view).
* The scheme: CloudFront redirects viewers to HTTPS and talks HTTPS to the load balancer, which sets
  ``X-Forwarded-Proto`` from its own listener; nginx passes it on unchanged, so prod's
  ``SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")`` is true exactly when the request
  crossed the load balancer's HTTPS listener.

Every consumer (login lockouts, rate limits, security logs) calls :func:`client_ip` directly or names it in
settings (django-ratelimit's ``RATELIMIT_IP_META_KEY``, django-axes' ``AXES_CLIENT_IP_CALLABLE``), so
apps below ``jewelry_site`` never import it.
"""

import ipaddress
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest | None) -> str:
    """The client's address: the X-Forwarded-For entry our own proxies wrote, else REMOTE_ADDR.

    SHOP_TRUSTED_PROXY_HOPS counts our proxies (see the module docstring for the chain); only the
    entry those proxies wrote is trusted, so a client cannot choose its own address.
    """
    if request is None:
        return "unknown"
    return client_ip_from_environ(request.META)


def client_ip_from_environ(environ: Mapping[str, Any]) -> str:
    """``client_ip`` for a WSGI environ (gunicorn's access log has no request object, only this).

    Nothing else is read: X-Real-IP, Forwarded and the like are not set by our chain and pass
    through from the client untouched, so they name whatever the client likes.
    """
    hops = getattr(settings, "SHOP_TRUSTED_PROXY_HOPS", 0)
    forwarded = [p.strip() for p in str(environ.get("HTTP_X_FORWARDED_FOR", "")).split(",") if p.strip()]
    if hops and len(forwarded) >= hops:
        return forwarded[-hops][:64]
    return (environ.get("REMOTE_ADDR") or "unknown")[:64]


def address_network(address: str, *, ipv6_prefix: int) -> str:
    """IPv4 as is; IPv6 as the first address of its ``ipv6_prefix``-bit network (an IPv4-mapped one as
    IPv4; still an address, so it fits axes' GenericIPAddressField); anything else as given.

    One subscriber holds a whole IPv6 network (a phone a /64, a household often a /56), so counting
    single IPv6 addresses gives one attacker 2^64 fresh counters.
    """
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address  # "unknown" (a unix socket with no trusted hop): one counter, as before
    if parsed.version == 6 and parsed.ipv4_mapped is not None:
        return str(parsed.ipv4_mapped)
    if parsed.version == 6:
        return str(ipaddress.ip_network(f"{parsed}/{ipv6_prefix}", strict=False).network_address)
    return str(parsed)


def client_network(request: HttpRequest | None) -> str:
    """:func:`client_ip`, IPv6 masked to SHOP_LOGIN_IPV6_PREFIX bits: django-axes' client address."""
    return address_network(client_ip(request), ipv6_prefix=settings.SHOP_LOGIN_IPV6_PREFIX)
