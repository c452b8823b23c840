"""Sign-in and sign-out: one pair of URLs (accounts:login, accounts:logout) whatever the mode.

* OIDC off (the `make run` default): Django's password form.
* OIDC on: accounts:login sends the browser to the provider (Cognito's hosted UI); the password form
  is served only when DJANGO_LOCAL_LOGIN_ENABLED is true (break-glass staff access).
* accounts:logout is a POST (CSRF-checked) that ends the Django session and, for a provider sign-in,
  continues to the provider's logout endpoint so its session ends too.
* Failed password sign-ins are counted by django-axes (accounts/lockout.py); a locked-out client gets
  :func:`locked_out`, the friendly 429 page.
"""

import logging
import re
import time
from urllib.parse import urlencode

import requests
from django.conf import settings
from django.contrib import auth, messages
from django.contrib.auth import BACKEND_SESSION_KEY
from django.contrib.auth.views import LoginView
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View
from django.views.decorators.http import require_POST
from mozilla_django_oidc.views import OIDCAuthenticationRequestView

from .auth import SignInRefused
from .auth_forms import SignInForm
from .middleware import OIDC_BACKEND, provider_sign_in_record

security_log = logging.getLogger("shop.security")
# Parameters only the provider's redirect to /oidc/callback/ carries.
_CALLBACK_PARAMS = ("code", "state")


def oidc_enabled() -> bool:
    return bool(getattr(settings, "OIDC_ENABLED", False))


def local_login_enabled() -> bool:
    return not oidc_enabled() or bool(getattr(settings, "LOCAL_LOGIN_ENABLED", False))


def _safe_next(request: HttpRequest, url: str | None) -> str | None:
    """``url`` when it is a path on this site or a URL on its host, else None.

    A bare word ("orders") passes Django's host check as a relative URL, but ``redirect()`` tries it as a
    view name first and raises NoReverseMatch (a 500, after sign-up had created the account): refused."""
    if (
        url
        and (url.startswith("/") or "://" in url)
        and url_has_allowed_host_and_scheme(url, allowed_hosts={request.get_host()}, require_https=request.is_secure())
    ):
        return url
    return None


def _oidc_start_url(request: HttpRequest) -> str:
    next_url = _safe_next(request, request.GET.get("next") or request.POST.get("next"))
    url = reverse("oidc_authentication_init")
    return f"{url}?{urlencode({'next': next_url})}" if next_url else url


class LocalLoginView(LoginView):
    """Django's password form (e-mail or username; failures counted by django-axes), styled like the shop."""

    template_name = "registration/login.html"
    authentication_form = SignInForm

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if any(name in request.GET or name in request.POST for name in _CALLBACK_PARAMS):
            # A provider answer sent to the password form (a mangled redirect, or someone probing):
            # refuse it plainly instead of letting it reach a sign-in backend.
            security_log.warning("login_misdirected_callback", extra={"event": "login_misdirected_callback"})
            form = self.get_form_class()(request=request, initial={"username": request.POST.get("username", "")})
            form.cleaned_data = {}  # add_error() expects it; an unbound form never builds one
            form.add_error(
                None, "This sign-in link is not valid here. Please sign in again with the button or the form below."
            )
            return self.render_to_response(self.get_context_data(form=form), status=400)
        return super().post(request, *args, **kwargs)

    def get_form(self, form_class=None):
        form = super().get_form(form_class)
        if oidc_enabled():
            # The provider button is the main way in; the emergency form should not grab focus.
            form.fields["username"].widget.attrs.pop("autofocus", None)
        return form

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["oidc_enabled"] = oidc_enabled()
        if oidc_enabled():
            context["oidc_start_url"] = _oidc_start_url(self.request)
        return context


def locked_out(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: the friendly 429 page, with Retry-After, for a locked-out password sign-in."""
    cool_off = settings.AXES_COOLOFF_TIME
    seconds = int(cool_off.total_seconds())
    context = {"minutes": max(1, round(seconds / 60)), "oidc_enabled": oidc_enabled()}
    response = render(request, "registration/locked_out.html", context, status=429)
    response["Retry-After"] = str(seconds)
    return response


_local_login = LocalLoginView.as_view()


def login(request: HttpRequest) -> HttpResponse:
    """The site's one sign-in URL: the provider when OIDC is on, else (or if enabled) the password form."""
    if local_login_enabled():
        return _local_login(request)
    return redirect(_oidc_start_url(request))


def provider_logout_url(request: HttpRequest) -> str:
    """Where the browser goes after our session ends, so the provider's session ends too."""
    endpoint = getattr(settings, "OIDC_OP_LOGOUT_ENDPOINT", "")
    back = request.build_absolute_uri(resolve_url(settings.LOGOUT_REDIRECT_URL))
    if not endpoint:
        return back
    if settings.OIDC_LOGOUT_STYLE == "cognito":
        params = {"client_id": settings.OIDC_RP_CLIENT_ID, "logout_uri": back}
    else:
        params = {"client_id": settings.OIDC_RP_CLIENT_ID, "post_logout_redirect_uri": back}
    return f"{endpoint}?{urlencode(params)}"


@require_POST
def logout(request: HttpRequest) -> HttpResponse:
    """End the session (POST + CSRF only); provider sign-ins also end at the provider."""
    via_provider = oidc_enabled() and request.session.get(BACKEND_SESSION_KEY) == OIDC_BACKEND
    was_signed_in = request.user.is_authenticated
    auth.logout(request)
    if was_signed_in:
        messages.info(request, "You have signed out.")
    if via_provider:
        return HttpResponseRedirect(provider_logout_url(request))
    return redirect(settings.LOGOUT_REDIRECT_URL)


def admin_login(request: HttpRequest) -> HttpResponse:
    """Replaces the admin's own password form, so the admin signs in the way the shop does."""
    next_url = _safe_next(request, request.GET.get("next")) or reverse("admin:index")
    if request.user.is_authenticated:
        if request.user.is_active and request.user.is_staff:
            return redirect(next_url)
        # Signed in but not staff: sending them to sign in again would loop through the provider.
        return render(request, "accounts/staff_only.html", status=403)
    return redirect(f"{resolve_url(settings.LOGIN_URL)}?{urlencode({'next': next_url})}")


# --- The OpenID Connect flow -------------------------------------------------------------


class OIDCStartView(OIDCAuthenticationRequestView):
    """Redirect to the provider with state, nonce and a PKCE challenge (404 while OIDC is off)."""

    def __init__(self, **kwargs):
        # The library reads its settings here; with OIDC off they do not exist.
        View.__init__(self, **kwargs)

    def get(self, request):
        if not oidc_enabled():
            raise Http404("Single sign-on is not configured.")
        self.OIDC_OP_AUTH_ENDPOINT = settings.OIDC_OP_AUTHORIZATION_ENDPOINT
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID
        return super().get(request)


_FRIENDLY = {
    "cancelled": "Sign-in was cancelled. Your bag is still here whenever you are ready.",
    "unavailable": "We could not reach the sign-in service just now. Please try again in a moment.",
    "refused": "We could not confirm your sign-in, so we did not sign you in. Please try again.",
    "second_factor": "Staff accounts must sign in with their authenticator app code as well as the password. "
    "Set up the authenticator (ask the shop's administrator), then sign in again.",
    "expired": "Your sign-in took too long to complete, so we stopped it to keep your account safe. Please try again.",
}


def sign_in_failed(request: HttpRequest, reason: str, *, status: int = 400) -> HttpResponse:
    """The friendly failure page, plus a security event (reason only: never a code, state or token)."""
    security_log.warning("oidc_login_failed", extra={"event": "oidc_login_failed", "reason": reason, "status": status})
    if reason.startswith("provider_error:access_denied"):
        kind = "cancelled"
    elif reason == "expired_state":
        kind = "expired"
    elif reason == "staff_without_mfa":
        kind = "second_factor"
    elif status >= 500:
        kind = "unavailable"
    else:
        kind = "refused"
    context = {"message": _FRIENDLY[kind], "kind": kind, "retry_url": reverse("accounts:login")}
    return render(request, "accounts/login_failed.html", context, status=status)


class OIDCCallbackView(View):
    """The provider sends the browser back here with ``code`` and ``state``.

    Written out rather than inherited so every refusal, including an unknown (replayed) state, ends
    on the friendly page instead of the library's bare redirect or a 400 from SuspiciousOperation.
    """

    http_method_names = ["get"]

    def get(self, request: HttpRequest) -> HttpResponse:
        if not oidc_enabled():
            raise Http404("Single sign-on is not configured.")
        try:
            user = self._authenticate(request)
        except SignInRefused as exc:
            return sign_in_failed(request, exc.reason)
        except (requests.Timeout, requests.ConnectionError):
            return sign_in_failed(request, "provider_unreachable", status=503)
        except requests.RequestException:
            return sign_in_failed(request, "provider_error", status=502)

        next_url = _safe_next(request, request.session.get("oidc_login_next"))
        # auth.login rotates the session key (no fixation) and sends user_logged_in (the cart merges).
        auth.login(request, user)
        provider_sign_in_record(request)  # starts the staff re-check clock (accounts/middleware.py)
        request.session.pop("oidc_login_next", None)
        security_log.info("oidc_login", extra={"event": "oidc_login", "user_id": user.pk, "is_staff": user.is_staff})
        return redirect(next_url or settings.LOGIN_REDIRECT_URL)

    def _authenticate(self, request: HttpRequest):
        params = request.GET
        states = self._unexpired_states(request)
        state = params.get("state", "")
        if params.get("error"):
            if state in states:
                self._forget_state(request, states, state)
            raise SignInRefused("provider_error:" + re.sub(r"[^a-z_]", "", params["error"].lower())[:40])
        if not params.get("code") or not state:
            raise SignInRefused("missing_code_or_state")
        if state not in states:
            # Never issued to this browser, or already used once (a replay).
            raise SignInRefused("unknown_state")
        # RFC 9207: a provider that names itself in the response must be the one we configured.
        if "iss" in params and params["iss"] != settings.OIDC_OP_ISSUER:
            raise SignInRefused("wrong_issuer_in_response")
        entry = self._forget_state(request, states, state)
        # Reload the session so a slow token exchange cannot overwrite what another tab saved meanwhile.
        request.session = request.session.__class__(request.session.session_key)

        user = auth.authenticate(request=request, nonce=entry.get("nonce"), code_verifier=entry.get("code_verifier"))
        if user is None:
            raise SignInRefused("no_user")
        if not user.is_active:
            raise SignInRefused("inactive_user")
        return user

    @staticmethod
    def _unexpired_states(request: HttpRequest) -> dict:
        """The session's started sign-ins, minus those older than OIDC_STATE_MAX_AGE (dropped, and
        an expired one that is being answered now is refused with its own reason)."""
        states = request.session.get("oidc_states")
        if not isinstance(states, dict):
            return {}
        oldest = time.time() - getattr(settings, "OIDC_STATE_MAX_AGE", 600)
        fresh = {k: v for k, v in states.items() if isinstance(v, dict) and v.get("added_on", 0) >= oldest}
        if len(fresh) != len(states):
            request.session["oidc_states"] = fresh
            request.session.save()
            if request.GET.get("state") in states and request.GET.get("state") not in fresh:
                raise SignInRefused("expired_state")
        return fresh

    @staticmethod
    def _forget_state(request: HttpRequest, states: dict, state: str) -> dict:
        """Each state works once: drop it and save before talking to the provider."""
        entry = states.pop(state)
        request.session["oidc_states"] = states
        request.session.save()
        return entry
