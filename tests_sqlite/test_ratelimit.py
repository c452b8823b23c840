"""Rate-limit counters on `make run`'s defaults (issue #21): django-ratelimit's checks run and pass, and
its counters are the shop's database counters on SQLite, exact under a burst of parallel sign-ups."""

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import close_old_connections
from django.test import Client
from django.urls import reverse

from tests.threads import run_together

pytestmark = pytest.mark.django_db(transaction=True)
PASSWORD = "a brand-new passphrase 42"


def test_the_dev_defaults_pass_django_ratelimits_checks_with_atomic_counters():
    assert "django_ratelimit" in settings.INSTALLED_APPS
    backend = settings.CACHES[settings.RATELIMIT_USE_CACHE]["BACKEND"]
    assert backend == "jewelry_site.ratelimit_cache.DatabaseCounterCache"
    call_command("check", "--fail-level", "WARNING")  # raises SystemCheckError on E003 or any warning


def test_twelve_sign_ups_at_once_against_a_limit_of_five_let_exactly_five_through_on_sqlite(settings):
    settings.SHOP_ACCOUNT_RATE_PER_IP = "5/h"

    def sign_up(n: int) -> int:
        data = {"email": f"lane{n}@example.com", "first_name": "A", "last_name": "B", "password1": PASSWORD}
        return Client().post(reverse("accounts:sign-up"), {**data, "password2": PASSWORD}).status_code

    statuses = run_together([lambda n=n: sign_up(n) for n in range(12)], what="a sign-up")
    close_old_connections()
    assert [s for s in statuses if isinstance(s, BaseException)] == []
    assert sum(1 for s in statuses if s != 429) == 5, statuses
