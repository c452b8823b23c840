"""Fixtures for the whole suite. Servers (moto, the OIDC provider, gunicorn for browser tests)
are session-scoped and started on free loopback ports; each stops only the process it started."""

import subprocess
import sys
from pathlib import Path

import pytest

# The test OpenID Connect provider (Node `oidc-provider`), shared by tests/accounts and tests/e2e (helper F).
from tests.oidc_provider.fixtures import oidc_provider  # noqa: F401
from tests.servers import free_port, port_open, stop, wait_until


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

    for alias in ("default", "fragments"):
        caches[alias].clear()


# --- end of cached catalogue fragments ---


@pytest.fixture(scope="session")
def moto_server():
    """A real moto server (S3, Secrets Manager, ...) over HTTP on loopback; yields its endpoint URL."""
    port = free_port()
    moto = Path(sys.executable).with_name("moto_server")
    process = subprocess.Popen(
        [str(moto), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(port_open(port), timeout=30, what="moto_server", process=process)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)


@pytest.fixture
def aws_env(moto_server, monkeypatch):
    """Environment for boto3 clients pointed at the moto server (fake credentials, loopback only)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-2")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    return moto_server
