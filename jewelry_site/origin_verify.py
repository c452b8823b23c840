"""Refuse requests that did not come through CloudFront: the origin only serves what CloudFront forwards.

CloudFront adds ``X-Origin-Verify: <secret>`` to every request it sends to the load balancer (an
origin custom header in deploy/cloudformation/shop.yaml; the value is generated in Secrets Manager and
reaches the app as APP_CONFIG's ``ORIGIN_VERIFY_SECRET``). The Lightsail load balancer is public, so
without this check anyone could reach it directly, skipping CloudFront and forging the
X-Forwarded-For entries that ``jewelry_site.client_address`` trusts.

Health probes (``/healthz``, ``/readyz``) come from the load balancer itself, without the header; they
are answered by ``HealthCheckMiddleware`` before this one and are exempt here too, so the order in
MIDDLEWARE cannot lock the balancer out. The comparison is constant-time and the value is never logged.
"""

import hmac

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.http import HttpRequest, HttpResponseBase, HttpResponseForbidden

from jewelry_site.client_address import client_ip
from jewelry_site.logs import HEALTH_PATHS, security_event

HEADER = "X-Origin-Verify"


def accepted_values() -> list[bytes]:
    """The current value and any still accepted during a rotation (SHOP_ORIGIN_VERIFY_SECRET_FALLBACKS)."""
    values = [settings.SHOP_ORIGIN_VERIFY_SECRET, *getattr(settings, "SHOP_ORIGIN_VERIFY_SECRET_FALLBACKS", [])]
    return [value.encode() for value in values if value]


def header_matches(supplied: str, accepted: list[bytes]) -> bool:
    """True when ``supplied`` equals one accepted value; compares against every one, in constant time each."""
    given = supplied.encode("utf-8", "surrogateescape")
    matched = False
    for value in accepted:
        matched |= hmac.compare_digest(given, value)
    return matched


class OriginVerifyMiddleware:
    """403 for any request without CloudFront's secret origin header; off when no secret is configured."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response
        self.accepted = accepted_values()
        if not self.accepted:
            raise MiddlewareNotUsed("SHOP_ORIGIN_VERIFY_SECRET is empty: no origin header check")

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if request.path_info in HEALTH_PATHS:
            return self.get_response(request)
        supplied = request.headers.get(HEADER)
        if supplied is None or not header_matches(supplied, self.accepted):
            # The reason only: never the value sent, which could be a near miss of the real one.
            reason = "missing" if supplied is None else "mismatch"
            security_event("origin_verify_failed", reason=reason, client_ip=client_ip(request))
            return HttpResponseForbidden("Forbidden", content_type="text/plain; charset=utf-8")
        return self.get_response(request)
