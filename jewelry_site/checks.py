"""Deploy checks (`manage.py check --deploy`, run by deploy/release.sh before a release goes live)."""

from django.conf import settings
from django.core import checks

# CloudFront, the load balancer and nginx (jewelry_site/client_address.py): three hops or more means
# the shop believes CloudFront's X-Forwarded-For entry, which only the origin header check protects.
CLOUDFRONT_HOPS = 3


@checks.register(checks.Tags.security, deploy=True)
def origin_verify_secret_set(app_configs, **kwargs) -> list[checks.CheckMessage]:
    """Behind CloudFront (hops >= 3) the origin header check must be on: ORIGIN_VERIFY_SECRET set."""
    hops = getattr(settings, "SHOP_TRUSTED_PROXY_HOPS", 0)
    if hops >= CLOUDFRONT_HOPS and not getattr(settings, "SHOP_ORIGIN_VERIFY_SECRET", ""):
        return [
            checks.Error(
                f"DJANGO_TRUSTED_PROXY_HOPS={hops} counts CloudFront, but ORIGIN_VERIFY_SECRET is empty: "
                "anyone reaching the load balancer directly skips CloudFront and forges the client address.",
                hint="Set APP_CONFIG's ORIGIN_VERIFY_SECRET (or DJANGO_ORIGIN_VERIFY_SECRET) to the stack's "
                "OriginVerifySecret, or DJANGO_TRUSTED_PROXY_HOPS=2 when the shop is not behind CloudFront.",
                id="jewelry_site.E001",
            )
        ]
    return []


# Rate-limit caches whose increment is one atomic step on a store every worker shares, each proved by
# tests/security/test_ratelimit_atomic.py (issue #21). django-ratelimit's own check (E003) refuses the
# known-bad ones; this one refuses anything else a release has not been tested with.
ATOMIC_RATELIMIT_BACKENDS = frozenset(
    {"django_redis.cache.RedisCache", "jewelry_site.ratelimit_cache.DatabaseCounterCache"}
)


@checks.register(checks.Tags.caches, deploy=True)
def ratelimit_cache_atomic(app_configs, **kwargs) -> list[checks.CheckMessage]:
    """In production the rate-limit counters live in Redis (django-redis) or the shop's database counters."""
    alias = getattr(settings, "RATELIMIT_USE_CACHE", "default")
    backend = settings.CACHES.get(alias, {}).get("BACKEND", "")
    if backend in ATOMIC_RATELIMIT_BACKENDS:
        return []
    return [
        checks.Error(
            f"The rate-limit cache {alias!r} uses {backend or 'nothing'}: its counters are not atomic across "
            "workers, so parallel requests slip past every limit.",
            hint="Set DJANGO_CACHE_URL to a redis:// URL, or leave it unset or dbcache:// (the database "
            "counters of jewelry_site/ratelimit_cache.py count the limits then).",
            id="jewelry_site.E230",
        )
    ]
