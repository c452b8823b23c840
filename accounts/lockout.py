"""How django-axes counts failed password sign-ins: the callables its settings name (see settings/base.py).

* ``lockout_username``: one counter per *normalised* name (NFKC, then casefold, trimmed), so "ＡＤＡ",
  "Ada" and "ada" are the same account to the limit, as they are to Django's login form (which
  applies NFKC) and to the e-mail sign-in (case-insensitive).
* ``lockout_parameters``: failures are held against the client address OR the name; for a staff
  account (the break-glass password accounts) only against the pair (name AND address), so failures
  from one address cannot lock staff out from every other address.
* ``lockout_client_str``: what axes writes to its own log lines; a keyed digest, never the name as
  typed (people type passwords into the username box).
"""

import contextlib
import hashlib
import hmac
import unicodedata

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.http import HttpRequest

# Axes names these fields; the pair is one counter, a plain name is one counter of its own.
BY_ADDRESS_OR_NAME = ["ip_address", "username"]
BY_NAME_AND_ADDRESS = [["username", "ip_address"]]


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


def lockout_username(request: HttpRequest | None, credentials: dict | None) -> str:
    """AXES_USERNAME_CALLABLE: the normalised name from the credentials (or the posted form)."""
    return username_normalise(_typed_username(request, credentials))


def is_staff_account(name: str) -> bool:
    """True when the (normalised) name or e-mail belongs to an active staff user."""
    if not name:
        return False
    users = get_user_model().objects.filter(is_active=True, is_staff=True)
    return users.filter(Q(username__iexact=name) | Q(email__iexact=name)).exists()


def lockout_parameters(request_or_attempt, credentials: dict | None = None) -> list:
    """AXES_LOCKOUT_PARAMETERS: by address or name; for staff accounts by name and address together."""
    name = lockout_username(request_or_attempt, credentials)
    cached = getattr(request_or_attempt, "_shop_lockout_staff", None)
    if cached is None or cached[0] != name:
        cached = (name, is_staff_account(name))
        with contextlib.suppress(AttributeError):  # an AccessAttempt row takes no attribute: fine
            request_or_attempt._shop_lockout_staff = cached
    return BY_NAME_AND_ADDRESS if cached[1] else BY_ADDRESS_OR_NAME


def lockout_client_str(username, ip_address, user_agent, path_info, request) -> str:
    """AXES_CLIENT_STR_CALLABLE: the client in axes' own log lines, with the name as a digest."""
    path = path_info[0] if isinstance(path_info, list | tuple) else path_info
    return f"{{user: {username_digest(username) if username else '-'}, ip: {ip_address}, path: {path}}}"


def lockout_lift(*, user) -> int:
    """Forget failures counted against this account's names (after it proved its mailbox: a reset)."""
    from axes.utils import reset  # axes' public API; imported late so settings can name this module early

    names = {username_normalise(user.get_username()), username_normalise(user.email)} - {""}
    return sum(reset(username=name) for name in names)
