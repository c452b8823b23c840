"""No silent fallback to the development settings: the WSGI entry point fails closed, and manage.py
defaults to dev settings only inside a developer's git checkout (never in a release or any other copy)."""

import os
import shutil
import subprocess

import pytest

from tests.deploy.conftest import GUNICORN, PYTHON, REPO
from tests.servers import free_port

SHOW_SETTINGS = "from django.conf import settings; print(settings.SETTINGS_MODULE, settings.DEBUG)"


def bare_env(**extra: str) -> dict[str, str]:
    """Our environment without any DJANGO_* / GUNICORN_* variable (as a fresh shell or unit would have)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "GUNICORN_"))}
    return {**env, **extra}


def test_wsgi_refuses_to_start_without_a_settings_module():
    result = subprocess.run(
        [PYTHON, "-c", "import jewelry_site.wsgi"], cwd=REPO, env=bare_env(), capture_output=True, text=True
    )
    assert result.returncode == 1
    assert "start-up stopped: DJANGO_SETTINGS_MODULE is not set" in result.stderr


def test_gunicorn_with_the_production_config_fails_closed():
    """The real entry point, as jewelry.service runs it, with the settings variable missing."""
    port = free_port()
    result = subprocess.run(
        [GUNICORN, "-c", "deploy/gunicorn.conf.py"],
        cwd=REPO,
        env=bare_env(GUNICORN_BIND=f"127.0.0.1:{port}", GUNICORN_WORKERS="1"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "DJANGO_SETTINGS_MODULE is not set" in result.stdout + result.stderr
    assert "Booting worker" not in result.stdout + result.stderr


def test_manage_py_in_the_checkout_defaults_to_dev_settings():
    result = subprocess.run(
        [PYTHON, "manage.py", "shell", "-c", SHOW_SETTINGS], cwd=REPO, env=bare_env(), capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-2:] == ["jewelry_site.settings.dev", "True"]


@pytest.mark.parametrize("layout", ["copy", "release"])
def test_manage_py_outside_a_checkout_has_no_default(tmp_path, layout):
    # "copy": any tree without .git; "release": what release.sh makes (REVISION), even were .git there.
    shutil.copy(REPO / "manage.py", tmp_path / "manage.py")
    if layout == "release":
        (tmp_path / ".git").mkdir()
        (tmp_path / "REVISION").write_text("0" * 40 + "\n")
    env = bare_env(PYTHONPATH=str(REPO))
    refused = subprocess.run(
        [PYTHON, "manage.py", "shell", "-c", SHOW_SETTINGS], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert refused.returncode == 1
    assert "manage.py: set DJANGO_SETTINGS_MODULE (or --settings)" in refused.stderr
    assert refused.stdout == ""
    # Naming the settings, either way, works as usual.
    for how in ({"DJANGO_SETTINGS_MODULE": "jewelry_site.settings.dev"}, {}):
        args = [] if how else ["--settings=jewelry_site.settings.dev"]
        named = subprocess.run(
            [PYTHON, "manage.py", "shell", *args, "-c", SHOW_SETTINGS],
            cwd=tmp_path,
            env={**env, **how},
            capture_output=True,
            text=True,
        )
        assert named.returncode == 0, named.stderr
        assert named.stdout.split()[-2] == "jewelry_site.settings.dev"
