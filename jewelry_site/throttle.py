"""Login throttle for the local password form: failures counted in Django's cache, per IP + username.

Counting happens on Django's ``user_login_failed`` signal (wired in ``jewelry_site.apps``), so
every form that calls ``authenticate(request, ...)`` is counted. A login view only has to ask
:func:`login_throttle_retry_after` before authenticating; :class:`ThrottledLoginView` does that
and answers 429 with the form and a message. Production uses a shared cache (the database
cache table) so every gunicorn worker sees the same counts.
"""

import hashlib
import time

from django.conf import settings
from django.contrib.auth.views import LoginView
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse

from jewelry_site.client_address import client_ip
from jewelry_site.logging import security_event

THROTTLE_MESSAGE = "Too many failed sign-in attempts. Please wait {minutes} minutes and try again."


def _limits() -> tuple[int, int, int]:
    """(failures per IP+username, failures per IP, window seconds) from settings."""
    return (
        getattr(settings, "SHOP_LOGIN_MAX_FAILURES", 5),
        getattr(settings, "SHOP_LOGIN_MAX_FAILURES_PER_IP", 50),
        getattr(settings, "SHOP_LOGIN_WINDOW_SECONDS", 15 * 60),
    )


def _keys(*, ip: str, username: str) -> tuple[str, str]:
    # Hash: usernames and addresses stay out of cache keys (and of any cache dump).
    pair = hashlib.sha256(f"{ip}\n{username.strip().lower()}".encode()).hexdigest()[:32]
    addr = hashlib.sha256(ip.encode()).hexdigest()[:32]
    return f"login-fail:pair:{pair}", f"login-fail:ip:{addr}"


def _count(key: str, now: float, window: int) -> tuple[int, float]:
    count, started = cache.get(key, (0, now))
    if now - started >= window:
        return 0, now
    return count, started


def login_throttle_retry_after(*, request: HttpRequest, username: str) -> int | None:
    """Seconds until this IP may try this username again, or None when it may try now."""
    per_pair, per_ip, window = _limits()
    now = time.time()
    pair_key, ip_key = _keys(ip=client_ip(request), username=username or "")
    waits = []
    for key, limit in ((pair_key, per_pair), (ip_key, per_ip)):
        count, started = _count(key, now, window)
        if count >= limit:
            waits.append(max(1, int(started + window - now)))
    return max(waits) if waits else None


def login_failure_record(*, request: HttpRequest | None, username: str) -> int:
    """Count one failed sign-in; returns the failures for this IP + username in the current window."""
    _per_pair, _per_ip, window = _limits()
    now = time.time()
    pair_key, ip_key = _keys(ip=client_ip(request), username=username or "")
    result = 0
    for key in (pair_key, ip_key):
        count, started = _count(key, now, window)
        # Fixed window: the expiry is the window's end, not refreshed by each failure.
        cache.set(key, (count + 1, started), timeout=max(1, int(started + window - now)))
        result = result or count + 1
    return result


def login_throttle_reset(*, request: HttpRequest | None, username: str) -> None:
    """A successful sign-in clears the IP + username counter (not the per-IP one)."""
    pair_key, _ip_key = _keys(ip=client_ip(request), username=username or "")
    cache.delete(pair_key)


class ThrottledLoginView(LoginView):
    """Django's LoginView that refuses with 429 (form re-rendered, with a message) once throttled."""

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        username = request.POST.get("username", "")[:150]
        retry_after = login_throttle_retry_after(request=request, username=username)
        if retry_after is None:
            return super().post(request, *args, **kwargs)
        security_event("login_throttled", client_ip=client_ip(request), retry_after=retry_after)
        # An unbound form: binding it would run authenticate(), which is exactly what we refuse.
        form = self.get_form_class()(request=request, initial={"username": username})
        form.cleaned_data = {}  # add_error() expects it; an unbound form never builds one
        form.add_error(None, THROTTLE_MESSAGE.format(minutes=max(1, round(retry_after / 60))))
        response = self.render_to_response(self.get_context_data(form=form), status=429)
        response["Retry-After"] = str(retry_after)
        return response
