"""Fixtures for the whole suite. Servers (moto, the OIDC provider, gunicorn for browser tests)
are session-scoped and started on free loopback ports; each stops only the process it started."""

import pytest


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    """Uploaded files go to a per-test folder, never the developer's media/."""
    settings.MEDIA_ROOT = tmp_path / "media"
