"""Settings shared by every environment, grouped by subject.

Values come from ``DJANGO_``-prefixed environment variables (and an optional ``.env`` file at the
repository root) through django-environ; `.env.example` lists every one with a comment, in the same
order as the sections below (tests/test_env_example.py keeps the two in step). Environment modules
(dev, test, prod) import everything from here and override what differs.

Sections: core; database; cache; sessions; accounts and sign-in; internationalisation; static files,
media and product images; e-mail; security; logging; the shop; cart, checkout and delivery;
reservations and hold limits; card payments; rate limits. A new setting goes into its subject's
section, not at the end.
"""

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
_env_file = BASE_DIR / ".env"
if _env_file.exists():
    environ.Env.read_env(str(_env_file), overwrite=False)

# === Core: hosts, apps, middleware, templates =================================================
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.sitemaps",
    "django.contrib.postgres",
    # The durable e-mail queue (issue #14): Django's Tasks API backport and its database backend.
    "django_tasks",
    "django_tasks_db",
    # Ours, lowest layer first (see shared/style.md: catalog <- cart <- orders; accounts alone).
    # mailqueue stands on nothing of ours: any app may queue an e-mail through it.
    "mailqueue",
    "accounts",
    "catalog",
    "cart",
    "orders",
    "payments",  # card payments (issue #11): beside orders, which reaches it through orders/payment_port.py
    # Failed password sign-ins counted in the database (issue #15); before jewelry_site so its
    # counts are on the request when the security-event receiver logs the failure.
    "axes",
    "pages",  # content pages (issue #14)
    "restock",  # back-in-stock alerts, above catalog (issue #14)
    "wishlist",  # above catalog; the user by AUTH_USER_MODEL (issue #14)
    # Operations (issue #6): security-event signal receivers; django-csp checks.
    "jewelry_site.apps.JewelrySiteConfig",
    "csp",
    # Rate limits (issue #11, #21): installed so its system checks run (E003: a non-atomic cache).
    "django_ratelimit",
]

MIDDLEWARE = [
    # Issue #6: request id + access log first; health probes answered before the HTTPS redirect
    # and the ALLOWED_HOSTS check (the load balancer probes by IP over HTTP).
    "jewelry_site.middleware.RequestLogMiddleware",
    "jewelry_site.middleware.HealthCheckMiddleware",
    # Issue #12: only requests through CloudFront (secret origin header) get further; off without a secret.
    "jewelry_site.origin_verify.OriginVerifyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "jewelry_site.middleware.ShopCSPMiddleware",
    "jewelry_site.middleware.PermissionsPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "accounts.middleware.StaffSessionBoundMiddleware",  # staff provider sessions re-checked (issue #15)
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # turns a lockout into the friendly 429 page (issue #15)
    "jewelry_site.middleware.NoStoreMiddleware",
    # Issue #11: a view decorated with django-ratelimit that refuses answers through RATELIMIT_VIEW.
    "django_ratelimit.middleware.RatelimitMiddleware",
]

ROOT_URLCONF = "jewelry_site.urls"
WSGI_APPLICATION = "jewelry_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "jewelry_site.context_processors.shop",
                "csp.context_processors.nonce",  # CSP_NONCE for the rare inline script (issue #6)
                "cart.context_processors.cart",  # cart_count for the header (helper C)
            ],
        },
    },
]

# === Database =================================================================================
# SQLite by default so `make run` works offline; DJANGO_DATABASE_URL switches to Postgres
# (postgres://user:pass@host:port/name, driven by psycopg 3).
DATABASES = {
    "default": env.db("DJANGO_DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DJANGO_CONN_MAX_AGE", default=60))
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# CA bundle that production verifies the database's certificate against (sslmode verify-full; without
# it a network database gets sslmode require: jewelry_site/db_tls.py). The instances' first boot puts
# Amazon's RDS bundle at /etc/jewelry/rds-ca-bundle.pem.
DB_SSLROOTCERT = env.str("DJANGO_DB_SSLROOTCERT", default="")

# === Cache ====================================================================================
# Rendered catalogue fragments live in each process's memory: they are keyed by the catalogue
# version, which lives in the shared "default" cache, so no process can serve one that is stale,
# and a cold page costs no cache-table write (catalog/cache.py).
FRAGMENT_CACHE_LOCAL = {
    "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
    "LOCATION": "jewelry-fragments",
    "OPTIONS": {"MAX_ENTRIES": env.int("DJANGO_FRAGMENT_CACHE_MAX_ENTRIES", default=3000)},
}
# django-ratelimit counts in its own alias, "ratelimit" (RATELIMIT_USE_CACHE below). The counters must
# be atomic across every worker and instance: here (dev, the embedded default, on SQLite or Postgres) the
# shop's own database counters, one UPSERT per count (jewelry_site/ratelimit_cache.py; the table comes
# with `migrate`). prod.py uses Redis instead when DJANGO_CACHE_URL names one; test.py one process's
# memory. Django's DatabaseCache is never used for them: it reads, then writes, and overshoots.
RATELIMIT_CACHE_DATABASE = {"BACKEND": "jewelry_site.ratelimit_cache.DatabaseCounterCache"}
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "jewelry"},
    "fragments": FRAGMENT_CACHE_LOCAL,
    "ratelimit": RATELIMIT_CACHE_DATABASE,
}

# === Sessions =================================================================================
# Database sessions: carts and sign-ins survive restarts and are shared by every instance.
SESSION_ENGINE = "django.contrib.sessions.backends.db"
SESSION_COOKIE_AGE = env.int("DJANGO_SESSION_COOKIE_AGE", default=60 * 60 * 24 * 14)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# No page script reads the CSRF cookie (forms and fetch() take the hidden csrfmiddlewaretoken), so a script
# injected into a page cannot read it either. A security invariant, not a choice: not read from the env.
CSRF_COOKIE_HTTPONLY = True

# === Accounts and sign-in: users, passwords, Cognito, lockout =================================
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "catalog:home"
LOGOUT_REDIRECT_URL = "catalog:home"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# A password reset link works this many seconds (Django's default is 3 days): long enough to read the
# e-mail, short enough that an old link found in a mailbox or a log is worth nothing (issue #21).
PASSWORD_RESET_TIMEOUT = env.int("DJANGO_PASSWORD_RESET_TIMEOUT", default=60 * 60)

# Sign-in through Amazon Cognito over OpenID Connect (issue #4).
# Off by default (`make run` keeps Django's login form). DJANGO_COGNITO_* switch it on and derive
# the endpoints; DJANGO_OIDC_* override them for another provider. Sets OIDC_ENABLED,
# LOCAL_LOGIN_ENABLED, OIDC_STAFF_GROUP, OIDC_GROUPS_CLAIM and, when on, AUTHENTICATION_BACKENDS
# and the OIDC_* settings (PKCE, RS256 + JWKS, nonce, bounded timeout): see accounts/oidc_config.py.
from accounts.oidc_config import oidc_settings  # noqa: E402

globals().update(oidc_settings(env))
# Seconds the provider's JWKS stays in the default cache (0: fetched at every sign-in); an unknown
# key id still forces one refetch, at most once a minute (accounts/auth.py).
OIDC_JWKS_CACHE_SECONDS = max(0, env.int("DJANGO_OIDC_JWKS_CACHE_SECONDS", default=3600))
# Seconds a started provider sign-in (its state, nonce and PKCE verifier) stays usable.
OIDC_STATE_MAX_AGE = env.int("DJANGO_OIDC_STATE_MAX_AGE", default=10 * 60)
# A staff session from the provider is re-checked against it (sign in again, groups re-read) after
# this many seconds: the bound on how long admin access outlives removal from the staff group.
STAFF_SESSION_MAX_AGE = env.int("DJANGO_STAFF_SESSION_MAX_AGE", default=60 * 60)
# Staff (any provider group that makes a user staff) must have signed in with a second factor: the
# provider's ID token lists "mfa" in its amr claim (Cognito: TOTP set up and used). Off only for a
# provider that does not send amr, and then say so in the handover.
OIDC_STAFF_REQUIRE_MFA = env.bool("DJANGO_OIDC_STAFF_REQUIRE_MFA", default=True)

# Password sign-in lockout: django-axes (issue #15).
# Failures are rows in the database, incremented with F() under a row lock, so parallel tries and
# every gunicorn worker count the same. Held against the client address (the shop's one helper) or
# the normalised name; for staff accounts against name AND address only (accounts/lockout.py).
AXES_FAILURE_LIMIT = env.int("DJANGO_LOGIN_MAX_FAILURES", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("DJANGO_LOGIN_LOCKOUT_MINUTES", default=15))
AXES_CLIENT_IP_CALLABLE = "jewelry_site.client_address.client_network"  # IPv6: its /64 (issue #21)
AXES_USERNAME_CALLABLE = "accounts.lockout.lockout_username"
AXES_LOCKOUT_PARAMETERS = "accounts.lockout.lockout_parameters"
AXES_CLIENT_STR_CALLABLE = "accounts.lockout.lockout_client_str"
AXES_LOCKOUT_CALLABLE = "accounts.auth_views.locked_out"
# A success does not wipe failures: it would also clear what the same address did to other accounts.
AXES_RESET_ON_SUCCESS = False
# No per-sign-in history table (names, addresses, browsers kept forever); security events are logged.
AXES_DISABLE_ACCESS_LOG = True
AXES_ENABLE_ACCESS_FAILURE_LOG = False
AXES_VERBOSE = False
# Never kept in the attempt rows (axes always masks the password and, by this list, the rest).
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "csrfmiddlewaretoken"]
# django-axes counts an IPv6 client by its network of this many bits (one phone or household holds a /64).
SHOP_LOGIN_IPV6_PREFIX = env.int("DJANGO_LOGIN_IPV6_PREFIX", default=64)
# A staff name's failures from all addresses together within the lockout time: at this many, every
# address without the owner's known-device cookie is locked and staff_login_locked_everywhere is logged.
SHOP_STAFF_LOGIN_MAX_FAILURES_EVERYWHERE = env.int("DJANGO_STAFF_LOGIN_MAX_FAILURES_EVERYWHERE", default=20)
# Days a browser stays the owner's known device after a password sign-in (its own failure counter).
SHOP_KNOWN_DEVICE_DAYS = env.int("DJANGO_LOGIN_KNOWN_DEVICE_DAYS", default=90)

# === Internationalisation =====================================================================
LANGUAGE_CODE = "en-gb"
TIME_ZONE = "Europe/London"
USE_I18N = True
USE_TZ = True

# === Static files, media and product images ===================================================
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = env.str("DJANGO_MEDIA_URL", default="/media/")
MEDIA_ROOT = Path(env.str("DJANGO_MEDIA_ROOT", default=str(BASE_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
WHITENOISE_MAX_AGE = 31536000

# Product images: private S3 bucket behind CloudFront (issue #5).
# Without DJANGO_AWS_STORAGE_BUCKET_NAME images stay on the local disk (MEDIA_ROOT) as above.
# With it, django-storages writes to a private bucket (no ACLs, Block Public Access on) and
# image URLs are built for the CloudFront domain: a pure string operation, never an S3 call.
AWS_STORAGE_BUCKET_NAME = env.str("DJANGO_AWS_STORAGE_BUCKET_NAME", default="")
CLOUDFRONT_DOMAIN = env.str("DJANGO_CLOUDFRONT_DOMAIN", default="")  # also read by the CSP (img-src)
AWS_S3_REGION_NAME = env.str("DJANGO_AWS_S3_REGION_NAME", default="eu-west-2")
# Only for moto or another S3-compatible endpoint; real AWS needs none.
AWS_S3_ENDPOINT_URL = env.str("DJANGO_AWS_S3_ENDPOINT_URL", default="") or None
CLOUDFRONT_KEY_ID = env.str("DJANGO_CLOUDFRONT_KEY_ID", default="")
CLOUDFRONT_PRIVATE_KEY = env.str("DJANGO_CLOUDFRONT_PRIVATE_KEY", default="", multiline=True)
# Origin the admin's browser POSTs uploads to (CSP connect-src on admin pages; bucket CORS).
IMAGE_UPLOAD_ORIGIN = (
    (AWS_S3_ENDPOINT_URL or f"https://{AWS_STORAGE_BUCKET_NAME}.s3.{AWS_S3_REGION_NAME}.amazonaws.com")
    if AWS_STORAGE_BUCKET_NAME
    else ""
)
# Upload limits, shared by the presigned POST policy and the server-side checks.
IMAGE_UPLOAD_MAX_BYTES = env.int("DJANGO_IMAGE_UPLOAD_MAX_MB", default=15) * 1024 * 1024
# 24 MP: a 6000 x 4000 camera photo; a decoded image costs ~4 bytes a pixel, several times over while
# converted, so the limit is what bounds an upload's memory (issue 21: 40 MP let ~720 MB through).
IMAGE_MAX_PIXELS = env.int("DJANGO_IMAGE_MAX_PIXELS", default=24_000_000)
IMAGE_UPLOAD_EXPIRY_MINUTES = env.int("DJANGO_IMAGE_UPLOAD_EXPIRY_MINUTES", default=10)
IMAGE_RENDITION_WIDTHS = (320, 640, 960, 1400)
# One photo decoded at a time per instance (catalog/image_slot.py): the file every gunicorn worker of the
# machine locks, and how long a second upload waits for it before "busy, try again".
# (Blank: jewelry-image-processing.lock in the system's temporary directory, which the workers share.)
IMAGE_PROCESSING_LOCK_FILE = env.str("DJANGO_IMAGE_PROCESSING_LOCK_FILE", default="")
IMAGE_PROCESSING_WAIT_SECONDS = env.float("DJANGO_IMAGE_PROCESSING_WAIT_SECONDS", default=20.0)


def s3_media_storage(
    *,
    bucket: str,
    region: str,
    endpoint_url: str | None,
    cloudfront_domain: str,
    key_id: str = "",
    private_key: str = "",
) -> dict:
    """STORAGES["default"] for the bucket; a function so tests can build the same thing for moto."""
    from botocore.config import Config

    signed = bool(cloudfront_domain and key_id and private_key)
    options = {
        "bucket_name": bucket,
        "region_name": region,
        "endpoint_url": endpoint_url,
        "signature_version": "s3v4",
        "file_overwrite": False,
        "default_acl": None,
        "custom_domain": cloudfront_domain or None,
        # Through CloudFront an S3 signature would be useless; only CloudFront signatures count.
        "querystring_auth": signed or not cloudfront_domain,
        "querystring_expire": env.int("DJANGO_CLOUDFRONT_URL_EXPIRE_SECONDS", default=6 * 3600),
        # Keys are unique per upload and never overwritten, so caches may keep them forever.
        "object_parameters": {"CacheControl": "public, max-age=31536000, immutable"},
        "client_config": Config(
            signature_version="s3v4",
            connect_timeout=env.float("DJANGO_AWS_S3_CONNECT_TIMEOUT", default=3.0),
            read_timeout=env.float("DJANGO_AWS_S3_READ_TIMEOUT", default=10.0),
            # total_max_attempts counts the first try too (botocore's max_attempts would not).
            retries={"total_max_attempts": env.int("DJANGO_AWS_S3_MAX_ATTEMPTS", default=3), "mode": "standard"},
        ),
    }
    if signed:
        options |= {"cloudfront_key_id": key_id, "cloudfront_key": private_key}
    return {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options}


if AWS_STORAGE_BUCKET_NAME:
    STORAGES["default"] = s3_media_storage(
        bucket=AWS_STORAGE_BUCKET_NAME,
        region=AWS_S3_REGION_NAME,
        endpoint_url=AWS_S3_ENDPOINT_URL,
        cloudfront_domain=CLOUDFRONT_DOMAIN,
        key_id=CLOUDFRONT_KEY_ID,
        private_key=CLOUDFRONT_PRIVATE_KEY,
    )

# === E-mail and the durable mail queue ========================================================
EMAIL_BACKEND = env.str("DJANGO_EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env.str("DJANGO_DEFAULT_FROM_EMAIL", default="Maison Aurelia <orders@example.com>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
EMAIL_TIMEOUT = env.int("DJANGO_EMAIL_TIMEOUT", default=10)  # seconds; a hung SMTP server never holds the worker

# Shopper e-mail queue (issue #14, mailqueue/): rows in the database, sent by `manage.py db_worker`
# (deploy/jewelry-worker.service; `make run` starts one). A failed try waits BASE, 2*BASE, ... up to MAX
# seconds; after MAX_ATTEMPTS tries the e-mail is "failed for good" and shown in the admin.
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
SHOP_MAIL_MAX_ATTEMPTS = env.int("DJANGO_MAIL_MAX_ATTEMPTS", default=10)
SHOP_MAIL_RETRY_BASE_SECONDS = env.float("DJANGO_MAIL_RETRY_BASE_SECONDS", default=30)
SHOP_MAIL_RETRY_MAX_SECONDS = env.float("DJANGO_MAIL_RETRY_MAX_SECONDS", default=3600)
# Sent e-mails (their bodies hold names and addresses) and finished delivery tasks are deleted after
# this many days by `manage.py mail_prune` (daily, deploy/jewelry-maintenance.service); failed ones stay.
SHOP_MAIL_RETENTION_DAYS = env.int("DJANGO_MAIL_RETENTION_DAYS", default=90)
# Kinds of queued e-mail whose body the admin never shows: they carry a live sign-in link (the mail
# worker still sends them). A list of our own e-mail kinds, not a deployment choice: not read from the env.
SHOP_MAIL_PRIVATE_KINDS = ("password-reset",)

# === Security: headers, request limits, proxies, health =======================================
# The same policy in every environment, so a page that breaks it fails in dev and in tests.
# prod.py adds HTTPS-only settings (HSTS, secure __Host- cookies, SSL redirect).
from csp.constants import NONCE, NONE, SELF  # noqa: E402

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        # No 'unsafe-inline': scripts come from static/js; a nonce is available if one must be inline.
        "script-src": [SELF, NONCE],
        "style-src": [SELF],
        # CloudFront / S3 / Cognito origins are added per request by ShopCSPMiddleware from settings.
        "img-src": [SELF, "data:", "blob:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    },
}
# Extra CSP sources by directive, e.g. {"img-src": ["https://example.org"]} (rarely needed).
SHOP_CSP_EXTRA_SOURCES: dict[str, list[str]] = {}
PERMISSIONS_POLICY = {
    feature: []
    for feature in (
        "accelerometer",
        "camera",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "payment",
        "usb",
    )
}
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# Health probes come over plain HTTP from the load balancer (they are answered before this applies;
# listed too so the exemption survives a middleware reordering).
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
# Request bodies: forms are small; product images go straight to S3 (nginx caps bodies too).
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DJANGO_DATA_UPLOAD_MAX_MEMORY_SIZE", default=2 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = env.int("DJANGO_FILE_UPLOAD_MAX_MEMORY_SIZE", default=2 * 1024 * 1024)
DATA_UPLOAD_MAX_NUMBER_FIELDS = 1000
DATA_UPLOAD_MAX_NUMBER_FILES = 20
# Our proxies in front of gunicorn that append to X-Forwarded-For (0 = trust REMOTE_ADDR only).
# The chain and why it is trusted: jewelry_site/client_address.py (prod's default is 3).
SHOP_TRUSTED_PROXY_HOPS = env.int("DJANGO_TRUSTED_PROXY_HOPS", default=0)
# CloudFront's secret origin header (X-Origin-Verify): APP_CONFIG's ORIGIN_VERIFY_SECRET in production.
# Empty = no check (development, tests); FALLBACKS keeps old values accepted during a rotation.
SHOP_ORIGIN_VERIFY_SECRET = env.str("DJANGO_ORIGIN_VERIFY_SECRET", default="")
SHOP_ORIGIN_VERIFY_SECRET_FALLBACKS = env.list("DJANGO_ORIGIN_VERIFY_SECRET_FALLBACKS", default=[])
# A 5xx answer to a POST on these views logs this event (CloudWatch alarms on order_place_failed).
SHOP_FAILURE_EVENTS = {"orders:checkout": "order_place_failed"}
# /readyz: the database must answer within this (a SET LOCAL statement_timeout).
SHOP_READYZ_DB_TIMEOUT_MS = env.int("DJANGO_READYZ_DB_TIMEOUT_MS", default=2000)

# Pages with personal data are never stored by a browser or a shared cache (issue #15): every URL in these
# namespaces, and these URL names, answer Cache-Control: no-store (jewelry_site.middleware.NoStoreMiddleware).
SHOP_NO_STORE_NAMESPACES = ("cart", "orders", "accounts", "admin", "payments", "wishlist", "restock")
SHOP_NO_STORE_URL_NAMES = ("admin-login", "admin-logout")

# === Logging: JSON lines on stdout, redacted, with the request id (issue #6) ==================
LOG_LEVEL = env.str("DJANGO_LOG_LEVEL", default="INFO").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"skip_health_probes": {"()": "jewelry_site.logs.SkipHealthProbes"}},
    "formatters": {
        "json": {"()": "jewelry_site.logs.JsonFormatter"},
        "text": {"()": "jewelry_site.logs.TextFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            # DJANGO_LOG_FORMAT=text for humans at a terminal; both formats redact.
            "formatter": env.str("DJANGO_LOG_FORMAT", default="json"),
            "filters": ["skip_health_probes"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Security events are WARNING: never filtered out by a quieter DJANGO_LOG_LEVEL below it.
        "shop.security": {"level": "INFO"},
        # The AWS SDK chats at INFO about credentials and endpoints on every client.
        **{name: {"level": "WARNING"} for name in ("boto3", "botocore", "s3transfer", "urllib3")},
        "stripe": {"level": "WARNING"},  # its INFO lines name every request
    },
}

# === The shop: name, money, links, the boutique ===============================================
SHOP_NAME = env.str("DJANGO_SHOP_NAME", default="Maison Aurelia")
SHOP_CURRENCY = env.str("DJANGO_SHOP_CURRENCY", default="GBP")
SHOP_CURRENCY_SYMBOL = env.str("DJANGO_SHOP_CURRENCY_SYMBOL", default="£")
SHOP_PRODUCTS_PER_PAGE = 24
# Search bounds (issue #21; catalog/search.py, README "Search limits"): matches kept per search (the
# newest), the only ones ranked, counted and sorted (10 pages of 24); and the milliseconds a search's
# queries may run (Postgres statement_timeout, 0 = none) before the page asks for fewer words.
SHOP_SEARCH_CANDIDATES = env.int("DJANGO_SHOP_SEARCH_CANDIDATES", default=240)
SHOP_SEARCH_TIMEOUT_MS = env.int("DJANGO_SHOP_SEARCH_TIMEOUT_MS", default=500)
# Amounts are Decimal strings in the environment, e.g. DJANGO_SHOP_ENGRAVING_FEE=25.00; a value that is
# not a non-negative decimal stops start-up with its name (issue #15), never a silent 0 or a crash later.


def _money(name: str, default: str) -> Decimal:
    raw = env.str(name, default=default)
    try:
        amount = Decimal(raw)
    except ArithmeticError:
        amount = None
    if amount is None or not amount.is_finite() or amount < 0:
        raise SystemExit(f"start-up stopped: {name}={raw!r} is not an amount (write e.g. 25.00, no symbol).")
    return amount.quantize(Decimal("0.01"))


# Absolute links in e-mails (the guest order link); set to the public https origin in production.
SHOP_SITE_URL = env.str("DJANGO_SHOP_SITE_URL", default="http://127.0.0.1:8000")
# Seconds a guest order link (in the confirmation e-mail) stays valid; staff can revoke one sooner.
SHOP_ORDER_LINK_MAX_AGE = env.int("DJANGO_SHOP_ORDER_LINK_MAX_AGE", default=60 * 60 * 24 * 30)
# Collect from our boutique: shown at checkout, on the confirmation and in the e-mail.
SHOP_BOUTIQUE_ADDRESS = env.list(
    "DJANGO_SHOP_BOUTIQUE_ADDRESS", default=["Maison Aurelia", "14 Burlington Arcade", "London W1J 0QJ"]
)
SHOP_BOUTIQUE_HOURS = env.str("DJANGO_SHOP_BOUTIQUE_HOURS", default="Tuesday to Saturday, 10:00 to 18:00")
SHOP_BOUTIQUE_READY = env.str(
    "DJANGO_SHOP_BOUTIQUE_READY",
    default="Ready to collect two working days after you order; we e-mail you when it is.",
)

# === Cart, checkout and delivery (cart/, orders/) =============================================
SHOP_ENGRAVING_FEE = _money("DJANGO_SHOP_ENGRAVING_FEE", "25.00")  # per engraved piece
SHOP_ENGRAVING_MAX_LENGTH = 30
# Ring size guide linked from ring pages (issue #16): a URL name ("pages:size-guide") or a path/URL;
# empty, or a name that does not resolve, shows no link.
SHOP_SIZE_GUIDE_URL = env.str("DJANGO_SHOP_SIZE_GUIDE_URL", default="pages:size-guide")  # the content page (#14)
SHOP_CART_MAX_QUANTITY = 10  # per cart line, whatever the stock
SHOP_SHIPPING_STANDARD_FEE = _money("DJANGO_SHOP_SHIPPING_STANDARD_FEE", "5.00")
SHOP_SHIPPING_EXPRESS_FEE = _money("DJANGO_SHOP_SHIPPING_EXPRESS_FEE", "25.00")
# Standard delivery is free when the bag's total before delivery (pieces and engraving) reaches this.
SHOP_FREE_SHIPPING_THRESHOLD = _money("DJANGO_SHOP_FREE_SHIPPING_THRESHOLD", "250.00")
# Shown on the confirmation page and e-mail of orders paid by bank transfer; prod.py refuses this placeholder.
SHOP_BANK_TRANSFER_DETAILS_PLACEHOLDER = "Maison Aurelia Ltd · Sort code 00-00-00 · Account 00000000"
SHOP_BANK_TRANSFER_DETAILS = env.str(
    "DJANGO_SHOP_BANK_TRANSFER_DETAILS", default=SHOP_BANK_TRANSFER_DETAILS_PLACEHOLDER
)
# One bag: different pieces (lines) and pieces in all.
SHOP_CART_MAX_LINES = env.int("DJANGO_SHOP_CART_MAX_LINES", default=20)
SHOP_CART_MAX_PIECES = env.int("DJANGO_SHOP_CART_MAX_PIECES", default=30)

# === Reservations and hold limits: what unpaid orders keep, and for how long (orders/holds.py) ===
# How long an unpaid order keeps its pieces; `manage.py expire_unpaid_orders` (a timer) cancels it after.
SHOP_CARD_PAYMENT_MINUTES = env.int("DJANGO_SHOP_CARD_PAYMENT_MINUTES", default=30)
SHOP_BANK_TRANSFER_DAYS = env.int("DJANGO_SHOP_BANK_TRANSFER_DAYS", default=5)
SHOP_COLLECTION_DAYS = env.int("DJANGO_SHOP_COLLECTION_DAYS", default=14)
# Unpaid orders one e-mail address or one browser session may hold at once.
SHOP_MAX_UNPAID_ORDERS = env.int("DJANGO_SHOP_MAX_UNPAID_ORDERS", default=3)
# Summed over every order waiting for payment placed from one client address (IPv6: its network, below), one
# browser session or one signed-in account; a checkout that would go over is refused with a message.
SHOP_HOLD_MAX_PIECES = env.int("DJANGO_SHOP_HOLD_MAX_PIECES", default=10)
SHOP_HOLD_MAX_VALUE = _money("DJANGO_SHOP_HOLD_MAX_VALUE", "5000.00")  # goods, before delivery
# An IPv6 client is its network of this many bits: UK providers give a household a /56, a phone a /64.
SHOP_HOLD_IPV6_PREFIX = env.int("DJANGO_SHOP_HOLD_IPV6_PREFIX", default=56)
# A bank-transfer or pay-on-collection order that took the last piece of a variant keeps it this long at most.
SHOP_ONE_OF_A_KIND_HOLD_DAYS = env.int("DJANGO_SHOP_ONE_OF_A_KIND_HOLD_DAYS", default=2)
# An offline (bank transfer, on collection) order leaving its client holding this much logs the
# shop.security event large_unpaid_hold (a CloudWatch alarm watches it).
SHOP_HOLD_ALERT_PIECES = env.int("DJANGO_SHOP_HOLD_ALERT_PIECES", default=5)
SHOP_HOLD_ALERT_VALUE = _money("DJANGO_SHOP_HOLD_ALERT_VALUE", "2000.00")

# === Card payments: Stripe (issue #11, payments/) =============================================
# Off by default: `make run` stays offline with bank transfer and pay on collection. DJANGO_STRIPE_ENABLED=1
# plus the three keys switch card payments on (prod refuses to start with one missing). The API base and
# the script URL point at localstripe in tests and local trials (README), at Stripe otherwise.
STRIPE_ENABLED = env.bool("DJANGO_STRIPE_ENABLED", default=False)
STRIPE_SECRET_KEY = env.str("DJANGO_STRIPE_SECRET_KEY", default="")
STRIPE_PUBLISHABLE_KEY = env.str("DJANGO_STRIPE_PUBLISHABLE_KEY", default="")
STRIPE_WEBHOOK_SECRET = env.str("DJANGO_STRIPE_WEBHOOK_SECRET", default="")
STRIPE_API_BASE = env.str("DJANGO_STRIPE_API_BASE", default="https://api.stripe.com")
STRIPE_JS_URL = env.str("DJANGO_STRIPE_JS_URL", default="https://js.stripe.com/v3/")
STRIPE_TIMEOUT_SECONDS = env.float("DJANGO_STRIPE_TIMEOUT_SECONDS", default=10.0)
STRIPE_MAX_NETWORK_RETRIES = env.int("DJANGO_STRIPE_MAX_NETWORK_RETRIES", default=2)
# `manage.py payments_reconcile` (daily timer) compares Stripe with our orders for this many hours back:
# two days, so each payment is seen by two runs and one missed run loses nothing.
SHOP_RECONCILE_HOURS = env.int("DJANGO_SHOP_RECONCILE_HOURS", default=48)
# A card order whose payment Stripe says succeeded (or is processing) is never expired; if the webhook
# has not confirmed it this long after the deadline, a `payment_unconfirmed` ERROR is logged (alarm).
SHOP_PAYMENT_UNCONFIRMED_ALARM_MINUTES = env.int("DJANGO_SHOP_PAYMENT_UNCONFIRMED_ALARM_MINUTES", default=60)
# A refund still pending this long (the process that sent it died) is sent again by the expiry timer.
SHOP_REFUND_RETRY_AFTER_MINUTES = env.int("DJANGO_SHOP_REFUND_RETRY_AFTER_MINUTES", default=10)

# === Rate limits: django-ratelimit, per client address (RATELIMIT_IP_META_KEY), session or e-mail ===
RATELIMIT_IP_META_KEY = "jewelry_site.client_address.client_ip"
RATELIMIT_VIEW = "orders.ratelimits.rate_limited"
RATELIMIT_USE_CACHE = "ratelimit"
# W001 only says "not on django-ratelimit's list" (which knows memcached and django-redis): our database
# counters are proved atomic by tests/security/test_ratelimit_atomic.py, and `check --deploy` refuses a
# rate-limit cache that is not atomic (jewelry_site.E230). E003 (a known non-atomic cache) stays on.
SILENCED_SYSTEM_CHECKS = ["django_ratelimit.W001"]
# Order placement (POST /checkout/) per client address, session and e-mail (django-ratelimit, "N/period").
SHOP_ORDER_RATE_PER_IP = env.str("DJANGO_SHOP_ORDER_RATE_PER_IP", default="30/h")
SHOP_ORDER_RATE_PER_SESSION = env.str("DJANGO_SHOP_ORDER_RATE_PER_SESSION", default="10/h")
SHOP_ORDER_RATE_PER_EMAIL = env.str("DJANGO_SHOP_ORDER_RATE_PER_EMAIL", default="10/h")
# Card attempts (the payment page's charge call) per client address: slows card testing down.
SHOP_CARD_ATTEMPTS_PER_IP = env.str("DJANGO_SHOP_CARD_ATTEMPTS_PER_IP", default="20/h")
# Loads of the payment page per client address (each may hand out a SetupIntent): a shopper needs a few.
SHOP_PAY_PAGE_PER_IP = env.str("DJANGO_SHOP_PAY_PAGE_PER_IP", default="60/h")
# Sign-up and password-reset POSTs per client address, and reset requests per e-mail address typed.
SHOP_ACCOUNT_RATE_PER_IP = env.str("DJANGO_SHOP_ACCOUNT_RATE_PER_IP", default="20/h")
SHOP_PASSWORD_RESET_RATE_PER_EMAIL = env.str("DJANGO_SHOP_PASSWORD_RESET_RATE_PER_EMAIL", default="5/h")
# Back-in-stock sign-ups per client address (django-ratelimit "N/period"; RATELIMIT_IP_META_KEY above).
SHOP_RESTOCK_SIGNUP_RATE = env.str("DJANGO_SHOP_RESTOCK_SIGNUP_RATE", default="10/h")
# Searches per client address (IPv6: its /64): a shopper types a few a minute, a script thousands.
SHOP_SEARCH_RATE_PER_IP = env.str("DJANGO_SHOP_SEARCH_RATE_PER_IP", default="30/m")
