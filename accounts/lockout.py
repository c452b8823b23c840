"""How django-axes counts failed password sign-ins: the callables its settings name (see settings/base.py).

* ``lockout_username``: the counter's name. When the name typed finds an account (the way the
  sign-in backends find it: e-mail ``iexact`` in Postgres, so "alıce@…" with a dotless ı *is*
  alice@…; or the username, any case, any width), the counter is the account's, ``user:<pk>``:
  every spelling that signs in as one account shares one counter. Otherwise the normalised name
  (NFKC, casefolded, trimmed), so unknown names still cannot be sprayed in look-alike spellings.
  From the owner's **known device** (a signed cookie set at a successful password sign-in, see
  :func:`known_device_remember`) the counter is ``user:<pk>:device:<id>``: a stranger who locks
  the name does not lock its owner out, and a stranger has no such cookie.
* ``lockout_parameters``: failures are held against the client address OR the name; for a staff
  account (the break-glass password accounts) against the pair (name AND address), so failures
  from one address cannot lock staff out everywhere, until the name has failed
  ``SHOP_STAFF_LOGIN_MAX_FAILURES_EVERYWHERE`` times across all addresses in the cool-off: then the
  name alone (every address without the device cookie) is locked and ``staff_login_locked_everywhere``
  is logged (a CloudWatch alarm). A known device is held against its own counter only.
* The address is the client's, IPv6 masked to its /64 (jewelry_site.client_address.client_network,
  named in settings): one household or phone holds a /64, so its 2^64 addresses are one counter.
* ``lockout_client_str``: what axes writes to its own log lines; a keyed digest, never the name as
  typed (people type passwords into the username box).
"""

import contextlib
import hashlib
import hmac
import logging
import secrets
import unicodedata
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Case, Q, Sum, Value, When
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

security_log = logging.getLogger("shop.security")

# Axes names these fields; the pair is one counter, a plain name is one counter of its own.
BY_ADDRESS_OR_NAME = ["ip_address", "username"]
BY_NAME_AND_ADDRESS = [["username", "ip_address"]]
BY_NAME_ONLY = ["username"]

KNOWN_DEVICE_COOKIE = "shop_device"
_KNOWN_DEVICE_SALT = "accounts.lockout.known-device"


@dataclass(frozen=True)
class LockoutAccount:
    """Who a sign-in attempt counts against."""

    key: str  # what axes stores as the "username" of the attempt
    user_id: int | None
    is_staff: bool
    known_device: bool


def username_normalise(raw: object) -> str:
    """The name as the lockout counts it: NFKC, casefolded, trimmed, at most 150 characters."""
    return unicodedata.normalize("NFKC", str(raw or "")).casefold().strip()[:150]


def username_digest(raw: object) -> str:
    """A short keyed digest of the normalised name, to correlate failures in logs without the name."""
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, username_normalise(raw).encode(), hashlib.sha256).hexdigest()[:12]


def _typed_username(request: HttpRequest | None, credentials: dict | None) -> str:
    if credentials and credentials.get("username") is not None:
        return str(credentials["username"])
    data = getattr(request, "POST", None) or {}
    return str(data.get("username", ""))


def _account_for(typed: str) -> tuple[int, bool] | None:
    """(pk, is_staff) of the account a password sign-in with this name would reach, else None.

    The same lookups as accounts.backends (e-mail ``iexact`` among password accounts; username), run
    in the database so its case rules (UPPER('ı') = 'I') are the ones applied; plus the normalised
    name, so "ADA" and "ａｄａ" count against ada although only "ada" signs in.
    """
    name = username_normalise(typed)
    if not name:
        return None
    stripped = typed.strip()[:254]
    if "@" in typed:
        backend = Q(email__iexact=stripped, oidc_sub__isnull=True)
        match = backend | Q(email__iexact=name, oidc_sub__isnull=True)
    else:
        backend = Q(username=unicodedata.normalize("NFKC", stripped))
        match = backend | Q(username__iexact=name)
    # The account the backend itself would sign in comes first; a look-alike match counts only when
    # it is the only one.
    rows = list(
        get_user_model()
        ._default_manager.filter(match)
        .annotate(by_backend=Case(When(backend, then=Value(True)), default=Value(False)))
        .order_by("-by_backend", "pk")
        .values_list("pk", "is_staff", "is_active", "by_backend")[:2]
    )
    if not rows or (len(rows) > 1 and (not rows[0][3] or rows[1][3])):
        return None  # none, or ambiguous: fall back to the name itself
    pk, is_staff, is_active, _ = rows[0]
    return pk, bool(is_staff and is_active)


def known_device_id(request: HttpRequest | None, *, user_id: int) -> str | None:
    """The device id in this browser's signed cookie, if it was set by a sign-in of ``user_id``."""
    cookies = getattr(request, "COOKIES", None)
    if not cookies or KNOWN_DEVICE_COOKIE not in cookies:
        return None
    value = request.get_signed_cookie(
        KNOWN_DEVICE_COOKIE,
        default=None,
        salt=_KNOWN_DEVICE_SALT,
        max_age=settings.SHOP_KNOWN_DEVICE_DAYS * 86400,
    )
    owner, _, device = (value or "").partition(":")
    return device if owner == str(user_id) and device else None


def known_device_remember(request: HttpRequest, response: HttpResponse, *, user) -> None:
    """After a successful password sign-in: mark this browser as the account's known device."""
    device = known_device_id(request, user_id=user.pk) or secrets.token_urlsafe(12)
    response.set_signed_cookie(
        KNOWN_DEVICE_COOKIE,
        f"{user.pk}:{device}",
        salt=_KNOWN_DEVICE_SALT,
        max_age=settings.SHOP_KNOWN_DEVICE_DAYS * 86400,
        httponly=True,
        secure=settings.SESSION_COOKIE_SECURE,
        samesite="Lax",
    )


def lockout_account(request: HttpRequest | None, credentials: dict | None) -> LockoutAccount:
    """The counter this attempt belongs to (looked up once per request and name)."""
    typed = _typed_username(request, credentials)
    cached = getattr(request, "_shop_lockout_account", None)
    if cached is not None and cached[0] == typed:
        return cached[1]
    found = _account_for(typed)
    if found is None:
        account = LockoutAccount(key=username_normalise(typed), user_id=None, is_staff=False, known_device=False)
    else:
        pk, is_staff = found
        device = known_device_id(request, user_id=pk)
        key = f"user:{pk}:device:{device}" if device else f"user:{pk}"
        account = LockoutAccount(key=key, user_id=pk, is_staff=is_staff, known_device=bool(device))
    with contextlib.suppress(AttributeError):  # an AccessAttempt row takes no attribute: fine
        request._shop_lockout_account = (typed, account)
    return account


def lockout_username(request: HttpRequest | None, credentials: dict | None) -> str:
    """AXES_USERNAME_CALLABLE: the counter's name (see the module docstring)."""
    return lockout_account(request, credentials).key


def staff_failures_everywhere(*, key: str, request: HttpRequest | None = None) -> int:
    """Failures counted against a staff account's name from every address within the cool-off."""
    from axes.models import AccessAttempt  # imported late so settings can name this module early

    since = (getattr(request, "axes_attempt_time", None) or timezone.now()) - settings.AXES_COOLOFF_TIME
    rows = AccessAttempt.objects.filter(username=key, attempt_time__gte=since)
    return rows.aggregate(n=Sum("failures_since_start"))["n"] or 0


def lockout_parameters(request_or_attempt, credentials: dict | None = None) -> list:
    """AXES_LOCKOUT_PARAMETERS: by address or name; staff by name and address, then by name everywhere."""
    if not isinstance(request_or_attempt, HttpRequest):
        return BY_ADDRESS_OR_NAME  # an AccessAttempt row (axes' admin): its own fields say enough
    account = lockout_account(request_or_attempt, credentials)
    if account.known_device:
        return BY_NAME_ONLY  # the device's own counter: a stranger's failures elsewhere do not count
    if not account.is_staff:
        return BY_ADDRESS_OR_NAME
    limit = max(settings.SHOP_STAFF_LOGIN_MAX_FAILURES_EVERYWHERE, settings.AXES_FAILURE_LIMIT)
    if staff_failures_everywhere(key=account.key, request=request_or_attempt) < limit:
        return BY_NAME_AND_ADDRESS
    if not getattr(request_or_attempt, "_shop_staff_alarm_logged", False):
        request_or_attempt._shop_staff_alarm_logged = True
        security_log.warning(
            "staff_login_locked_everywhere",
            extra={
                "event": "staff_login_locked_everywhere",
                "user_id": account.user_id,
                "limit": limit,
                "client_ip": getattr(request_or_attempt, "axes_ip_address", None),
            },
        )
    return BY_NAME_ONLY


def lockout_client_str(username, ip_address, user_agent, path_info, request) -> str:
    """AXES_CLIENT_STR_CALLABLE: the client in axes' own log lines, with the name as a digest."""
    path = path_info[0] if isinstance(path_info, list | tuple) else path_info
    return f"{{user: {username_digest(username) if username else '-'}, ip: {ip_address}, path: {path}}}"


def lockout_lift(*, user) -> int:
    """Forget failures counted against this account (after it proved its mailbox: a reset)."""
    from axes.models import AccessAttempt  # imported late so settings can name this module early
    from axes.utils import reset

    names = {username_normalise(user.get_username()), username_normalise(user.email)} - {""}
    lifted = sum(reset(username=name) for name in names) + reset(username=f"user:{user.pk}")
    # The owner's own devices' counters too (one prefix; axes' reset takes exact names only).
    lifted += AccessAttempt.objects.filter(username__startswith=f"user:{user.pk}:device:").delete()[0]
    return lifted
