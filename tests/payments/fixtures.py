"""The localstripe fixtures: one fake Stripe server per test session on a free loopback port (loopback.localstripe)."""

import pytest

from loopback.localstripe import PUBLISHABLE_KEY, SECRET_KEY, WEBHOOK_SECRET, LocalStripe, localstripe_running

__all__ = ["PUBLISHABLE_KEY", "SECRET_KEY", "WEBHOOK_SECRET", "LocalStripe", "localstripe", "stripe_settings"]


@pytest.fixture(scope="session")
def localstripe():
    """localstripe on loopback for the session, stopped by PID; a missing package fails the run (no skip)."""
    with localstripe_running() as server:
        yield server


@pytest.fixture
def stripe_settings(localstripe, settings):
    """Card payments on, the stripe library pointed at localstripe through settings."""
    settings.STRIPE_ENABLED = True
    settings.STRIPE_SECRET_KEY = SECRET_KEY
    settings.STRIPE_PUBLISHABLE_KEY = PUBLISHABLE_KEY
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_API_BASE = localstripe.url
    settings.STRIPE_JS_URL = localstripe.js_url
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    return localstripe
