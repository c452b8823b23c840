"""Production-like settings for the benchmark and the drills, on plain-HTTP loopback only.

Everything comes from ``jewelry_site.settings.prod`` (DEBUG off, whitenoise with hashed names,
persistent connections, prod logging); only what plain ``http://127.0.0.1`` cannot do is relaxed:
no HTTPS redirect, no HSTS, no Secure-only cookies. Never deploy with this module.
"""

import os
from pathlib import Path

# prod has no defaults for these on purpose; the bench supplies loopback-only values before importing it.
os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-secret-key-never-used-outside-loopback")
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("DJANGO_EMAIL_HOST", "smtp.invalid")  # never contacted: see EMAIL_BACKEND below
# Every bench shopper comes from 127.0.0.1: order rate limits and unpaid-order caps (issue #11) would measure
# the 429 page instead of placement. Their cost (a few cache reads and one count) is still paid.
os.environ.setdefault("DJANGO_SHOP_ORDER_RATE_PER_IP", "1000000/h")
os.environ.setdefault("DJANGO_SHOP_ORDER_RATE_PER_SESSION", "1000000/h")
os.environ.setdefault("DJANGO_SHOP_ORDER_RATE_PER_EMAIL", "1000000/h")
os.environ.setdefault("DJANGO_SHOP_MAX_UNPAID_ORDERS", "1000000")
# The hold cap (issue #20) likewise: its lock and its one sum per checkout are still paid.
os.environ.setdefault("DJANGO_SHOP_HOLD_MAX_PIECES", "1000000")
os.environ.setdefault("DJANGO_SHOP_HOLD_MAX_VALUE", "1000000000.00")
# The order-place-card row charges every order from 127.0.0.1 too (the card-testing limit, 20/h by default).
os.environ.setdefault("DJANGO_SHOP_CARD_ATTEMPTS_PER_IP", "1000000/h")
os.environ.setdefault("DJANGO_SHOP_PAY_PAGE_PER_IP", "1000000/h")
# Searches per client address (issue #21): the search rows measure the work one search may cost, as from an
# attacker with many addresses; the rate limit would otherwise answer most of them with the 429 page.
os.environ.setdefault("DJANGO_SHOP_SEARCH_RATE_PER_IP", "1000000/m")
os.environ.setdefault("DJANGO_SHOP_BANK_TRANSFER_DETAILS", "Bench Ltd · Sort code 11-22-33 · Account 12345678")

from jewelry_site.settings.prod import *  # noqa: F403
from jewelry_site.settings.prod import BASE_DIR, MIDDLEWARE, TEMPLATES, env

DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
ROOT_URLCONF = "bench.urls"

# Plain HTTP on loopback: cookies without Secure, so no __Host- prefix (browsers reject it without Secure).
SECURE_SSL_REDIRECT = False
SECURE_HSTS_SECONDS = 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = False
SECURE_HSTS_PRELOAD = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
SESSION_COOKIE_NAME = "sessionid"
CSRF_COOKIE_NAME = "csrftoken"

# The bench still renders the confirmation e-mails (the cost is real) but sends them nowhere.
EMAIL_BACKEND = env.str("BENCH_EMAIL_BACKEND", default="django.core.mail.backends.dummy.EmailBackend")

# The harness collects static files into a throwaway folder so it never races a developer's staticfiles/.
STATIC_ROOT = Path(env.str("BENCH_STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))

TEMPLATES = [{**TEMPLATES[0], "DIRS": [*TEMPLATES[0]["DIRS"], BASE_DIR / "bench" / "templates"]}]

# The last-piece drill (bench/drills/last_piece.py) lets card reservations lapse in seconds, not 30 minutes.
# Its refund retries likewise: a refund left pending is sent again after seconds, not 10 minutes.
if env.str("BENCH_CARD_PAYMENT_SECONDS", default=""):
    SHOP_CARD_PAYMENT_MINUTES = env.float("BENCH_CARD_PAYMENT_SECONDS") / 60
if env.str("BENCH_REFUND_RETRY_AFTER_SECONDS", default=""):
    SHOP_REFUND_RETRY_AFTER_MINUTES = env.float("BENCH_REFUND_RETRY_AFTER_SECONDS") / 60

# Bench-only hook for the crash-mid-checkout drill (see bench/hooks.py); off unless the drill asks for it.
if env.bool("BENCH_CHECKOUT_PAUSE", default=False):
    MIDDLEWARE = [*MIDDLEWARE, "bench.hooks.CheckoutPauseMiddleware"]
