"""Fixtures of the SQLite lane (its own tree, so the Postgres suite's servers never start here)."""

import pytest


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    """Uploaded photos go to a per-test folder, never the developer's media/."""
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _cache_cleared():
    """The locmem cache outlives each test's database; start every test with it empty."""
    from django.core.cache import caches

    for alias in ("default", "fragments"):
        caches[alias].clear()
