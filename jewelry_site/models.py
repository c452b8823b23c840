"""Rate-limit counters in the database, for production without Redis (jewelry_site/ratelimit_cache.py)."""

from django.db import models


class RateLimitCounter(models.Model):
    """One django-ratelimit counter: its cache key, its count and when it stops counting.

    Written only by ``jewelry_site.ratelimit_cache.DatabaseCounterCache``, one SQL statement per call, so
    parallel requests on any worker or instance add up exactly (Django's DatabaseCache reads, then writes).
    """

    key = models.CharField(max_length=255, primary_key=True)
    count = models.BigIntegerField()
    # Seconds since the epoch, as django-ratelimit's windows are (time.time()): one clock for both.
    expires = models.FloatField(db_index=True)

    class Meta:
        db_table = "shop_ratelimit_counter"

    def __str__(self) -> str:
        return f"{self.key}={self.count}"
