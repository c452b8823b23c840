"""Staff sessions from the identity provider are re-checked against it within STAFF_SESSION_MAX_AGE.

Admin access comes from the provider's staff group, read at sign-in. Without a re-check, someone
removed from the group would keep the admin until their session ended (up to SESSION_COOKIE_AGE).
So a provider sign-in records when it happened; once a staff session is older than the bound, it is
ended and the browser sent to sign in again: the provider's answer (its groups) decides anew. A
provider session that is still alive makes that a couple of redirects, no password.

Password (break-glass) staff sessions are not affected: their staff flag lives in our database and
a change to it applies at the next request.
"""

import time
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import auth, messages
from django.contrib.auth import BACKEND_SESSION_KEY
from django.shortcuts import redirect, resolve_url

OIDC_BACKEND = "accounts.auth.ShopOIDCBackend"
VERIFIED_AT_KEY = "accounts_provider_verified_at"


def provider_sign_in_record(request) -> None:
    """Note that the provider has just vouched for this session's user (called after auth.login)."""
    request.session[VERIFIED_AT_KEY] = int(time.time())


class StaffSessionBoundMiddleware:
    """Ends a provider staff session older than STAFF_SESSION_MAX_AGE and asks for a fresh sign-in."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if self._expired(request):
            path = request.get_full_path() if request.method in ("GET", "HEAD") else ""
            auth.logout(request)
            messages.info(request, "For your security, staff sign-ins are checked every hour. Please sign in again.")
            query = f"?{urlencode({'next': path})}" if path else ""
            return redirect(resolve_url(settings.LOGIN_URL) + query)
        return self.get_response(request)

    @staticmethod
    def _expired(request) -> bool:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or not user.is_staff:
            return False
        if request.session.get(BACKEND_SESSION_KEY) != OIDC_BACKEND:
            return False
        verified_at = request.session.get(VERIFIED_AT_KEY)
        bound = getattr(settings, "STAFF_SESSION_MAX_AGE", 3600)
        return not isinstance(verified_at, int) or time.time() - verified_at > bound
