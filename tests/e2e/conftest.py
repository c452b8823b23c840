"""The browser tests' world: a dedicated database in the throwaway cluster, the shop under gunicorn
on loopback with sign-in pointed at the test provider, and Debian's Chromium driven by Playwright.
Everything here is started once per session (the browser once per module) and stopped by PID."""

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import requests
from playwright.sync_api import sync_playwright

from tests.servers import stop, wait_until

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))


def browser_gunicorn(bind: str) -> list[str]:
    """The command of a gunicorn that Chromium talks to directly, with no nginx buffering in front.

    Threaded (gthread) workers: Chromium opens speculative connections that send nothing, and a sync
    worker blocks reading one until its 30 s timeout, so with two workers a page load could wait past
    the test's 15 s (seen once in a clean-clone run; test_browser_server.py holds idle connections
    open and fails with sync workers). Production's sync workers sit behind nginx, which only hands
    them whole requests."""
    return [GUNICORN, "jewelry_site.wsgi:application", "--bind", bind, "--workers", "2", "--threads", "4"]


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",  # we run as root in CI; the sandbox refuses root
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DEMO_RING = "solstice-solitaire-ring"


def _database_url(name: str) -> str:
    parts = urlsplit(os.environ["DJANGO_DATABASE_URL"])
    return urlunsplit(parts._replace(path=f"/{name}"))


def _server_env(*, database_url: str, media_root: Path, extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "GUNICORN_", "AWS_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="tests.e2e.settings",
        DJANGO_DATABASE_URL=database_url,
        DJANGO_CONN_MAX_AGE="0",
        DJANGO_MEDIA_ROOT=str(media_root),
        PYTHONUNBUFFERED="1",
        PYTHONPATH=str(REPO),
    )
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def e2e_database():
    """A database of its own (not pytest-django's), migrated and holding a few demo products."""
    name = f"jewelry_e2e_{os.getpid()}"
    admin_url = os.environ["DJANGO_DATABASE_URL"]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _database_url(name)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def shop_server(e2e_database, oidc_provider, tmp_path_factory):
    """The shop under gunicorn on the loopback port the test provider's client expects."""
    media = tmp_path_factory.mktemp("e2e-media")
    env = _server_env(database_url=e2e_database, media_root=media, extra=oidc_provider.env())
    for command in (["migrate", "--noinput"], ["load_demo_catalog", "--limit", "2", "--image-size", "64"]):
        done = subprocess.run(
            [PYTHON, "manage.py", *command], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr[-2000:]
    origin = oidc_provider.e2e_app_origin
    process = subprocess.Popen(
        browser_gunicorn(origin.removeprefix("http://")),
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(_answers(origin), timeout=60, what="gunicorn (e2e shop)", process=process)
        yield origin
    finally:
        stop(process)


def _answers(origin: str):
    def check() -> bool:
        try:
            return requests.get(f"{origin}/", timeout=10).status_code == 200
        except requests.RequestException:
            return False

    return check


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium (never a downloaded one), for one test module.

    Module scope: Playwright's sync API keeps an event loop in this thread while it runs, and Django
    refuses ORM calls under a running loop, so it must be gone before other modules' database tests.
    """
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make install-test` (apt package chromium).")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser):
    """A fresh browser profile per test: no cookies at the shop or at the provider."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    try:
        yield context.new_page()
    finally:
        context.close()
