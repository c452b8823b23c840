"""Password accounts of the embedded default (Cognito off): sign-up, password reset and change.

Django's own auth views do the work, with the shop's templates. With single sign-on on, the provider's
hosted pages own all of this, so these URLs send the browser to accounts:login (the provider).
"""

import re
from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as django_auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_safe
from django_ratelimit.decorators import ratelimit

from . import services
from .auth_forms import ResetForm, SignUpForm
from .auth_views import _safe_next, oidc_enabled
from .lockout import lockout_lift


def local_accounts_only(view):
    """With single sign-on on, the provider handles accounts: go to its sign-in instead."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if oidc_enabled():
            return redirect("accounts:login")
        return view(request, *args, **kwargs)

    return wrapper


@sensitive_post_parameters("password1", "password2")
@local_accounts_only
@ratelimit(group="account-sign-up", key="ip", rate="accounts.ratelimits.rate_per_ip", method="POST")
# Each accepted POST e-mails the address typed: limited per address too, so nobody is mailed by the hundred.
@ratelimit(
    group="account-sign-up-email",
    key="accounts.ratelimits.email_key",
    rate="accounts.ratelimits.rate_per_email",
    method="POST",
)
def sign_up(request: HttpRequest) -> HttpResponse:
    """Create a password account, or e-mail the address's owner; the same "check your e-mail" page for both."""
    if request.user.is_authenticated:
        return redirect("accounts:profile")
    form = SignUpForm(request.POST or None)
    next_url = _safe_next(request, request.GET.get("next") or request.POST.get("next")) or ""
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        services.user_sign_up_request(
            email=data["email"],
            password=data["password1"],
            first_name=data["first_name"],
            last_name=data["last_name"],
            site_url=settings.SHOP_SITE_URL,
        )
        # Not signed in here: a new account signed in at once would tell a stranger the address was free.
        return render(request, "registration/sign_up_sent.html", {"email": data["email"], "next": next_url})
    return render(request, "registration/sign_up.html", {"form": form, "next": next_url})


_password_reset = django_auth_views.PasswordResetView.as_view(
    template_name="registration/password_reset_form.html",
    form_class=ResetForm,
    subject_template_name="registration/password_reset_subject.txt",
    extra_email_context={"site_name": settings.SHOP_NAME},
    success_url=reverse_lazy("accounts:password-reset-done"),
)
# Each POST may e-mail a link: limited per client address and per address typed (accounts/ratelimits.py).
_password_reset = ratelimit(
    group="password-reset",
    key="accounts.ratelimits.email_key",
    rate="accounts.ratelimits.rate_per_email",
    method="POST",
)(_password_reset)
_password_reset = ratelimit(group="password-reset", key="ip", rate="accounts.ratelimits.rate_per_ip", method="POST")(
    _password_reset
)
password_reset = local_accounts_only(_password_reset)
password_reset_done = local_accounts_only(
    django_auth_views.PasswordResetDoneView.as_view(template_name="registration/password_reset_done.html")
)


class PasswordResetConfirmView(django_auth_views.PasswordResetConfirmView):
    """Django's view; a new password chosen through the e-mailed link also lifts a lockout on the account."""

    def form_valid(self, form):
        response = super().form_valid(form)
        lockout_lift(user=form.user)
        return response


password_reset_confirm = local_accounts_only(
    PasswordResetConfirmView.as_view(
        template_name="registration/password_reset_confirm.html",
        success_url=reverse_lazy("accounts:password-reset-complete"),
    )
)
# What Django's urlsafe_base64_encode and PasswordResetTokenGenerator make; anything else is no link of ours.
_UIDB64 = re.compile(r"[0-9A-Za-z_-]{1,64}")
_RESET_TOKEN = re.compile(r"[0-9a-z]{1,13}-[0-9a-f]{1,64}")


@require_safe
def _password_reset_link(request: HttpRequest) -> HttpResponse:
    """The e-mail's link: its token goes into the session and the browser on to the token-free form.

    Django's own confirm view then checks the token from the session exactly as for its own redirect
    (an invalid or expired one shows "This link has already been used or has expired").
    """
    uidb64, token = request.GET.get("u", ""), request.GET.get("t", "")
    if not _UIDB64.fullmatch(uidb64) or not _RESET_TOKEN.fullmatch(token):
        return redirect("accounts:password-reset")
    request.session[django_auth_views.INTERNAL_RESET_SESSION_TOKEN] = token
    return redirect("accounts:password-reset-confirm", uidb64=uidb64, token=PasswordResetConfirmView.reset_url_token)


password_reset_link = local_accounts_only(_password_reset_link)
password_reset_complete = local_accounts_only(
    django_auth_views.PasswordResetCompleteView.as_view(template_name="registration/password_reset_complete.html")
)


def _has_password(view):
    """An account without a password (made by the provider) has nothing to change here."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.has_usable_password():
            messages.info(request, "Your password is managed by your sign-in provider.")
            return redirect("accounts:profile")
        return view(request, *args, **kwargs)

    return wrapper


password_change = local_accounts_only(
    login_required(
        _has_password(
            django_auth_views.PasswordChangeView.as_view(
                template_name="registration/password_change_form.html",
                success_url=reverse_lazy("accounts:password-change-done"),
            )
        )
    )
)
password_change_done = local_accounts_only(
    login_required(
        django_auth_views.PasswordChangeDoneView.as_view(template_name="registration/password_change_done.html")
    )
)
