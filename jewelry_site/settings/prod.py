"""Production settings: nothing secret has a default; a missing value stops start-up with its name.

Order matters: Secrets Manager is read first (when a DJANGO_*_SECRET_ID is set) and each key of the
configuration secrets sets its DJANGO_* variable (precedence: jewelry_site/secrets_manager.py), so every
section of base.py (storage, sign-in, e-mail) reads it the usual way. See deploy/README.md for the keys.
`manage.py check --deploy --fail-level WARNING` passes with these.
"""

from jewelry_site.db_tls import DatabaseTlsError, ssl_options
from jewelry_site.secrets_manager import SecretsError, app_config_for_settings, apply_app_config, load_secrets

try:
    _secrets = load_secrets()
except SecretsError as exc:
    # One line and no traceback: the secret id and the problem, never a value.
    raise SystemExit(f"start-up stopped: {exc}") from None
apply_app_config(_secrets.app_config)

from .base import *  # noqa: E402, F403
from .base import STATIC_ROOT, env  # noqa: E402


def required(name: str) -> str:
    """Read a mandatory variable; without it start-up stops with one line naming it (never a silent default)."""
    value = env.str(name, default="")
    if not value:
        raise SystemExit(
            f"start-up stopped: set {name} (or its key in operator-config): production has no default for it."
        )
    return value


# APP_CONFIG's keys with the public values only (secret ones masked): settings read the real values.
APP_CONFIG = app_config_for_settings(_secrets.app_config)

DEBUG = False
SECRET_KEY = required("DJANGO_SECRET_KEY")
# Old keys kept for a while after a rotation so sessions and signed links stay valid (runbook).
SECRET_KEY_FALLBACKS = env.list("DJANGO_SECRET_KEY_FALLBACKS", default=[])
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=[]) or [required("DJANGO_ALLOWED_HOSTS")]

# --- Database: URL without the password; the password (and user) come from Secrets Manager ---
DATABASES = {"default": env.db_url_config(required("DJANGO_DATABASE_URL"))}
if _secrets.db_password is not None:
    DATABASES["default"]["PASSWORD"] = _secrets.db_password
if _secrets.db_username:
    DATABASES["default"]["USER"] = _secrets.db_username
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DJANGO_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if "postgresql" in DATABASES["default"]["ENGINE"]:
    _db_options = DATABASES["default"].setdefault("OPTIONS", {})
    # A database that does not answer must fail a request (and /readyz) quickly, not hang a worker.
    _db_options.setdefault("connect_timeout", env.int("DJANGO_DB_CONNECT_TIMEOUT", default=5))
    # TLS to a network database, verified against the CA bundle when there is one (jewelry_site/db_tls.py).
    try:
        _db_options.update(
            ssl_options(
                host=DATABASES["default"].get("HOST") or "",
                # A ?sslmode= in DJANGO_DATABASE_URL counts as explicit too.
                sslmode=str(_db_options.get("sslmode") or env.str("DJANGO_DB_SSLMODE", default="")),
                sslrootcert=str(_db_options.get("sslrootcert") or DB_SSLROOTCERT),  # noqa: F405
            )
        )
    except DatabaseTlsError as exc:
        raise SystemExit(f"start-up stopped: {exc}") from None
    if env.str("DJANGO_DB_ASSUME_ROLE", default=""):
        # Alternating login users share one owner role, so tables keep one owner across rotations.
        _db_options["assume_role"] = env.str("DJANGO_DB_ASSUME_ROLE")

# --- Cache: shared by every worker (JWKS, catalogue version); `manage.py createcachetable` once ---
CACHES = {"default": env.cache_url("DJANGO_CACHE_URL", default="dbcache://django_cache")}
# The catalogue caches one entry per product page and per listing; Django's default of 300
# entries would keep pruning them on a 10,000-piece catalogue. Only the database and local
# memory backends take MAX_ENTRIES (Redis would pass it on to its connection pool).
if CACHES["default"]["BACKEND"].endswith(("db.DatabaseCache", "locmem.LocMemCache")):
    CACHES["default"].setdefault("OPTIONS", {}).setdefault(
        "MAX_ENTRIES", env.int("DJANGO_CACHE_MAX_ENTRIES", default=50_000)
    )
# Catalogue fragments: shared through Redis when there is one (a write there is cheap); with the
# database cache they stay in each worker's memory, keyed by the shared catalogue version.
CACHES["fragments"] = (
    dict(CACHES["default"]) if CACHES["default"]["BACKEND"].endswith("RedisCache") else FRAGMENT_CACHE_LOCAL  # noqa: F405
)
# Rate-limit counters (issue #21, alias "ratelimit"): in Redis when there is one (django-redis: INCR is
# atomic), under a prefix of their own; else the database counters of base.py (one UPSERT per count).
# Never the database cache: it reads, then writes, and parallel requests overshoot a limit.
CACHES["ratelimit"] = (
    {**CACHES["default"], "KEY_PREFIX": "ratelimit"}
    if CACHES["default"]["BACKEND"] == "django_redis.cache.RedisCache"
    else RATELIMIT_CACHE_DATABASE  # noqa: F405
)

# --- HTTPS behind CloudFront, the load balancer and nginx (chain: jewelry_site/client_address.py) ---
# The load balancer sets X-Forwarded-Proto from its listener and overwrites any value sent to it.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
SECURE_HSTS_SECONDS = 31536000
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
# __Host- cookies: Secure, Path=/, no Domain, so no sibling subdomain can set or read them.
SESSION_COOKIE_NAME = "__Host-sessionid"
CSRF_COOKIE_NAME = "__Host-csrftoken"
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
CSRF_TRUSTED_ORIGINS = env.list(
    "DJANGO_CSRF_TRUSTED_ORIGINS",
    default=[f"https://{host}" for host in ALLOWED_HOSTS if host and host != "*" and not host.startswith(".")],
)
# CloudFront, the Lightsail load balancer and nginx each append to X-Forwarded-For; the chain, and
# why X-Forwarded-Proto above can be believed, are documented once in jewelry_site/client_address.py.
SHOP_TRUSTED_PROXY_HOPS = env.int("DJANGO_TRUSTED_PROXY_HOPS", default=3)

# collectstatic writes here; overridable so a deploy (or a test) can build into another folder.
STATIC_ROOT = env.path("DJANGO_STATIC_ROOT", default=str(STATIC_ROOT))

# --- E-mail: order confirmations carry names and addresses ----------------------------------
# Production sends them over SMTP with TLS (Amazon SES's SMTP endpoint; the user and password are
# SES SMTP credentials in APP_CONFIG) and refuses the backends that deliver nothing: the console
# backend, the default everywhere else, would print every shopper's address into the logs.
SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
NOT_DELIVERING = ("console.EmailBackend", "filebased.EmailBackend", "locmem.EmailBackend", "dummy.EmailBackend")
EMAIL_BACKEND = env.str("DJANGO_EMAIL_BACKEND", default=SMTP_BACKEND)
if EMAIL_BACKEND.endswith(NOT_DELIVERING):
    raise SystemExit(
        f"start-up stopped: DJANGO_EMAIL_BACKEND={EMAIL_BACKEND} delivers no e-mail; production uses SMTP."
    )
if EMAIL_BACKEND == SMTP_BACKEND:
    EMAIL_HOST = required("DJANGO_EMAIL_HOST")
    EMAIL_PORT = env.int("DJANGO_EMAIL_PORT", default=587)
    EMAIL_HOST_USER = env.str("DJANGO_EMAIL_HOST_USER", default="")
    EMAIL_HOST_PASSWORD = env.str("DJANGO_EMAIL_HOST_PASSWORD", default="")
    EMAIL_USE_TLS = env.bool("DJANGO_EMAIL_USE_TLS", default=True)
    # Sent by the e-mail worker (mailqueue/): a hung server must not hold it; the try is retried later.
    EMAIL_TIMEOUT = env.int("DJANGO_EMAIL_TIMEOUT", default=10)

# --- Cart, checkout and orders (helper C) ---------------------------------------------------
# Absolute links in order e-mails: the public https origin (defaults to the first allowed host).
SHOP_SITE_URL = env.str("DJANGO_SHOP_SITE_URL", default=f"https://{ALLOWED_HOSTS[0].lstrip('.')}")

# --- Card payments (issue #11): on only when asked for, and then with every key ------------------
if STRIPE_ENABLED:  # noqa: F405
    STRIPE_SECRET_KEY = required("DJANGO_STRIPE_SECRET_KEY")
    STRIPE_PUBLISHABLE_KEY = required("DJANGO_STRIPE_PUBLISHABLE_KEY")
    STRIPE_WEBHOOK_SECRET = required("DJANGO_STRIPE_WEBHOOK_SECRET")
# Bank-transfer orders tell shoppers where to send money: the repo's placeholder account must never reach them.
if SHOP_BANK_TRANSFER_DETAILS.strip() == SHOP_BANK_TRANSFER_DETAILS_PLACEHOLDER:  # noqa: F405
    raise SystemExit(
        "start-up stopped: set DJANGO_SHOP_BANK_TRANSFER_DETAILS (or its key in operator-config): "
        "production refuses the placeholder bank account."
    )
