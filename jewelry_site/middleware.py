"""Cross-cutting middleware: request ids and access logs, health probes, CSP sources, Permissions-Policy.

Order in settings.MIDDLEWARE matters: RequestLogMiddleware is first so every response (health
probes included) carries X-Request-ID; HealthCheckMiddleware comes before SecurityMiddleware and
CommonMiddleware so the load balancer's probes (HTTP, by IP address) are answered without the
HTTPS redirect and without the ALLOWED_HOSTS check.
"""

import logging
import re
import time
import uuid
from collections.abc import Callable
from urllib.parse import urlsplit

from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings
from django.http import HttpRequest, HttpResponseBase
from django.utils.cache import add_never_cache_headers
from django.utils.functional import empty
from django.utils.log import log_response

from jewelry_site import health
from jewelry_site.logs import HEALTH_PATHS, bind_request_context, reset_request_context, update_request_context

access_log = logging.getLogger("shop.access")

# A caller's own id is logged beside ours only when short and made of safe characters.
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")

Handler = Callable[[HttpRequest], HttpResponseBase]


def request_id_new() -> str:
    """Our id for a request: always made here. A client's X-Request-ID passes through nginx and the
    load balancer untouched, so taking it would let anyone pick the id their lines are filed under
    (or reuse another request's, to mix their lines into it)."""
    return uuid.uuid4().hex


def client_request_id_from(request: HttpRequest) -> str | None:
    """The caller's X-Request-ID, if short and safe: logged as ``client_request_id``, never as ours."""
    supplied = request.headers.get("X-Request-ID", "")
    return supplied if _SAFE_REQUEST_ID.fullmatch(supplied) else None


def _loaded_user_id(request: HttpRequest) -> int | None:
    """The signed-in user's id, but only if the view already loaded the user (no extra queries)."""
    user = getattr(request, "user", None)
    if user is None:
        return None
    wrapped = getattr(user, "_wrapped", user)
    if wrapped is empty or not getattr(wrapped, "is_authenticated", False):
        return None
    return wrapped.pk


class RequestLogMiddleware:
    """Binds the request id to every log line, returns it as X-Request-ID and writes one access line."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        request_id = request_id_new()
        request.request_id = request_id
        token = bind_request_context(
            request_id=request_id,
            client_request_id=client_request_id_from(request),
            method=request.method,
            path=request.path,
        )
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            duration_ms = round((time.perf_counter() - started) * 1000, 1)
            user_id = _loaded_user_id(request)
            update_request_context(user_id=user_id)
            response["X-Request-ID"] = request_id
            # Probes arrive every few seconds from the load balancer: DEBUG keeps them out of INFO logs.
            probe = request.path in HEALTH_PATHS
            level = logging.DEBUG if probe else logging.INFO
            if probe:
                # A 503 from /readyz is reported by shop.health once; Django's own line would repeat it.
                response._has_been_logged = True
            elif response.status_code >= 400 and not getattr(response, "_has_been_logged", False):
                # Django writes this line after the middleware returns, without the request id: write it now.
                log_response("%s: %s", response.reason_phrase, request.path, response=response, request=request)
            if response.status_code >= 500:
                _log_failure_event(request, response.status_code)
            access_log.log(
                level,
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={"status": response.status_code, "duration_ms": duration_ms},
            )
            return response
        finally:
            reset_request_context(token)


def _log_failure_event(request: HttpRequest, status: int) -> None:
    """A 5xx on a business-critical POST becomes a named event (SHOP_FAILURE_EVENTS) that an alarm watches.

    A safety net that works whatever the view did: the view's own logging may add detail.
    """
    match = getattr(request, "resolver_match", None)
    event = getattr(settings, "SHOP_FAILURE_EVENTS", {}).get(match.view_name) if match else None
    if event and request.method == "POST":
        logging.getLogger("shop.events").error(event, extra={"event": event, "status": status})


class HealthCheckMiddleware:
    """Answers /healthz and /readyz directly: no HTTPS redirect, no Host check, no session or CSRF."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if request.path_info == "/healthz":
            return health.healthz(request)
        if request.path_info == "/readyz":
            return health.readyz(request)
        return self.get_response(request)


class PermissionsPolicyMiddleware:
    """Sets Permissions-Policy from settings.PERMISSIONS_POLICY (feature -> allow list, empty = nobody)."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        policy = getattr(settings, "PERMISSIONS_POLICY", {})
        if policy and "Permissions-Policy" not in response:
            response["Permissions-Policy"] = ", ".join(
                f"{feature}=({' '.join(allow)})" for feature, allow in policy.items()
            )
        return response


def _origin(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url if "//" in url else f"https://{url}")
    if not parts.netloc:
        return None
    return f"{parts.scheme or 'https'}://{parts.netloc}"


def csp_extra_sources() -> dict[str, list[str]]:
    """Origins the policy must allow, derived from the media, S3 and OIDC settings in force right now.

    Computed per request (it is cheap) so tests that point storage or login at loopback servers
    get a matching policy, and production picks up the CloudFront and Cognito domains from config.
    """
    media = _origin(settings.MEDIA_URL) if "//" in settings.MEDIA_URL else None
    cloudfront = [_origin(getattr(settings, name, None)) for name in ("AWS_S3_CUSTOM_DOMAIN", "CLOUDFRONT_DOMAIN")]
    s3: list[str | None] = [
        _origin(getattr(settings, "AWS_S3_ENDPOINT_URL", None)),
        _origin(getattr(settings, "IMAGE_UPLOAD_ORIGIN", None)),
    ]
    bucket = getattr(settings, "AWS_STORAGE_BUCKET_NAME", None)
    if bucket and not any(s3):
        region = getattr(settings, "AWS_S3_REGION_NAME", None)
        s3.append(f"https://{bucket}.s3.{region}.amazonaws.com" if region else f"https://{bucket}.s3.amazonaws.com")
    login = [
        _origin(getattr(settings, name, None))
        for name in ("OIDC_OP_AUTHORIZATION_ENDPOINT", "OIDC_OP_LOGOUT_ENDPOINT", "COGNITO_DOMAIN")
    ]
    extra = getattr(settings, "SHOP_CSP_EXTRA_SOURCES", {})
    sources = {
        "img-src": [media, *cloudfront, *s3, *extra.get("img-src", [])],
        "connect-src": [*s3, *extra.get("connect-src", [])],
        "form-action": [*login, *s3, *extra.get("form-action", [])],
    }
    return {directive: sorted({s for s in values if s}) for directive, values in sources.items()}


class ShopCSPMiddleware(CSPMiddleware):
    """django-csp's middleware plus the configured CloudFront, S3 and Cognito origins."""

    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        extra = {directive: sources for directive, sources in csp_extra_sources().items() if sources}
        if extra and not report_only:
            update = dict(parts.update or {})
            for directive, sources in extra.items():
                current = update.get(directive) or []
                current = [current] if isinstance(current, str) else list(current)
                update[directive] = current + [s for s in sources if s not in current]
            parts.update = update
        return parts


class NoStoreMiddleware:
    """Cache-Control: no-store on every page with personal data (bag, checkout, payment, account, orders,
    admin), chosen by URL namespace (settings.SHOP_NO_STORE_NAMESPACES) so a new page there is covered
    without anyone remembering a decorator. Catalogue pages stay cacheable."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response
        self.namespaces = frozenset(settings.SHOP_NO_STORE_NAMESPACES)
        self.names = frozenset(settings.SHOP_NO_STORE_URL_NAMES)

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        if match is not None and (self.namespaces.intersection(match.namespaces) or match.url_name in self.names):
            add_never_cache_headers(response)
        return response
