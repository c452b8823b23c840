"""Rate limits on sign-up and password reset (django-ratelimit): the keys and the rates from settings.

Keys: the client address (django-ratelimit's "ip", which reads ``RATELIMIT_IP_META_KEY``, the shop's one
client-address helper, named in settings so accounts imports nothing of the site) and, for password reset,
the e-mail address typed (hashed), so rotating addresses cannot mail one shopper reset links by the
hundred. Over a limit the view raises ``Ratelimited``; the middleware answers ``RATELIMIT_VIEW``'s 429 page.
"""

import hashlib

from django.conf import settings
from django.http import HttpRequest


def rate_per_ip(group: str, request: HttpRequest) -> str:
    return settings.SHOP_ACCOUNT_RATE_PER_IP


def rate_per_email(group: str, request: HttpRequest) -> str:
    return settings.SHOP_PASSWORD_RESET_RATE_PER_EMAIL


def email_key(group: str, request: HttpRequest) -> str:
    # Hashed: the cache key never holds the address itself. Case and spaces do not make a new bucket.
    email = request.POST.get("email", "").strip().lower()[:254]
    return hashlib.sha256(email.encode()).hexdigest()
