"""Fixtures for the whole suite. Servers (moto, the OIDC provider, gunicorn for browser tests)
are session-scoped and started on free loopback ports; each stops only the process it started."""

import io
import logging

import pytest

from jewelry_site.logs import JsonFormatter
from loopback import moto_running
from tests.deploy.conftest import json_lines

# The test OpenID Connect provider (Node `oidc-provider`), shared by tests/accounts and tests/e2e (helper F).
from tests.oidc_provider.fixtures import oidc_provider  # noqa: F401

# localstripe, the fake Stripe server, for tests/payments and the payment journeys (issue #11).
from tests.payments.fixtures import localstripe, stripe_settings  # noqa: F401


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    """Uploaded files go to a per-test folder, never the developer's media/."""
    settings.MEDIA_ROOT = tmp_path / "media"


# --- Cached catalogue fragments (issue #7, helper I) ---
@pytest.fixture(autouse=True)
def _cache_cleared():
    """Each test starts with an empty cache: the locmem cache outlives the rolled-back database, and a
    catalogue fragment from an earlier test would otherwise be served under an unchanged version."""
    from django.core.cache import caches

    for alias in ("default", "fragments", "ratelimit"):  # ratelimit: django-ratelimit's counters (issue #21)
        caches[alias].clear()


# --- end of cached catalogue fragments ---


@pytest.fixture(scope="session")
def moto_server():
    """A real moto server (S3, Secrets Manager, ...) over HTTP on loopback; yields its endpoint URL."""
    with moto_running() as endpoint:
        yield endpoint


@pytest.fixture
def aws_env(moto_server, monkeypatch):
    """Environment for boto3 clients pointed at the moto server (fake credentials, loopback only)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-2")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    return moto_server


@pytest.fixture
def log_text():
    """Everything any logger writes during the test, through the real JsonFormatter (redaction included);
    returns a function giving the text so far."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield stream.getvalue
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


@pytest.fixture
def json_log(log_text):
    """The same capture; returns a function giving the parsed lines."""
    return lambda: json_lines(log_text())
