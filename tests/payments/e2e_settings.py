"""Settings for the card-payment shop that the payment journeys drive (gunicorn in a subprocess).

The browser-test settings plus a cache shared between processes (the database cache, as in production),
so a stock change made by the expiry command in another process reaches gunicorn's catalogue pages.
"""

from tests.e2e.settings import *  # noqa: F403

CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "django_cache"},
    "fragments": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "jewelry-fragments"},
    # django-ratelimit's counters (RATELIMIT_USE_CACHE): the atomic database counters, as in production.
    "ratelimit": {"BACKEND": "jewelry_site.ratelimit_cache.DatabaseCounterCache"},
}
