"""`make run`'s secret key and host (issue #21: "`make run`'s fixed SECRET_KEY forges guest-order links").

Before: every checkout signed sessions and guest-order links with dev.py's published default key, and
`make run HOST=0.0.0.0` served that with DEBUG on to the network. After: the Makefile's ``dev-env``
step (scripts/dev-env.sh), run before anything else, writes a random key into .env on the first run
and refuses a non-loopback HOST while DEBUG is on.

Each test runs the real Makefile and script with GNU make in a temporary copy of the checkout's
files. Its scripts/install.sh is a stand-in that only records that it ran (so nothing is installed
and the test proves the refusal comes first); nothing past it runs in these tests.
"""

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
INSTALL_STANDIN = (
    "#!/bin/sh\n# Stand-in: records that make reached the install step; installs nothing.\ntouch reached-install\n"
)
EVERYWHERE = "0.0.0.0"  # noqa: S104 - the address of the finding; nothing binds to it here


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    (tmp_path / "scripts").mkdir()
    shutil.copy(REPO / "Makefile", tmp_path / "Makefile")
    shutil.copy(REPO / "scripts" / "dev-env.sh", tmp_path / "scripts" / "dev-env.sh")
    install = tmp_path / "scripts" / "install.sh"
    install.write_text(INSTALL_STANDIN)
    install.chmod(0o755)
    return tmp_path


def make(checkout: Path, target: str, **variables: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SECRET_KEY", "DJANGO_DEBUG", "MAKEFLAGS"}}
    env["VENV"] = str(Path(sys.executable).parent.parent)  # the Makefile's python: this interpreter's venv
    args = ["make", "--no-print-directory", "-C", str(checkout), target, *(f"{k}={v}" for k, v in variables.items())]
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=60, check=False)


def key_in(env_file: Path) -> str:
    """The key as django-environ (settings/base.py's reader) reads the file, in a process of its own."""
    code = "import os, sys, environ; environ.Env.read_env(sys.argv[1]); print(os.environ.get('DJANGO_SECRET_KEY', ''))"
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SECRET_KEY"}
    result = subprocess.run(
        [sys.executable, "-c", code, str(env_file)], env=env, capture_output=True, text=True, timeout=30, check=True
    )
    return result.stdout.strip()


def test_the_first_run_writes_a_random_key_the_settings_read_and_later_runs_keep_it(checkout, tmp_path):
    first = make(checkout, "dev-env")
    assert first.returncode == 0, first.stderr
    env_file = checkout / ".env"
    key = key_in(env_file)
    assert len(key) >= 50
    assert key != "dev-insecure-key-do-not-use-in-production"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert make(checkout, "dev-env").returncode == 0
    assert key_in(env_file) == key
    assert env_file.read_text().count("DJANGO_SECRET_KEY=") == 1


def test_two_checkouts_get_different_keys(tmp_path):
    keys = []
    for name in ("one", "two"):
        copy = tmp_path / name
        (copy / "scripts").mkdir(parents=True)
        shutil.copy(REPO / "Makefile", copy / "Makefile")
        shutil.copy(REPO / "scripts" / "dev-env.sh", copy / "scripts" / "dev-env.sh")
        assert make(copy, "dev-env").returncode == 0
        keys.append(key_in(copy / ".env"))
    assert keys[0] != keys[1]


def test_an_existing_env_file_keeps_its_lines_and_its_own_key(checkout):
    env_file = checkout / ".env"
    env_file.write_text("DJANGO_SHOP_NAME=Maison Test")  # no final newline
    assert make(checkout, "dev-env").returncode == 0
    lines = env_file.read_text().splitlines()
    assert lines[0] == "DJANGO_SHOP_NAME=Maison Test"
    assert any(line.startswith("DJANGO_SECRET_KEY=") for line in lines)
    env_file.write_text("DJANGO_SECRET_KEY='mine'\n")
    assert make(checkout, "dev-env").returncode == 0
    assert env_file.read_text() == "DJANGO_SECRET_KEY='mine'\n"


def test_make_run_on_a_network_address_with_debug_on_stops_before_anything_else(checkout):
    result = make(checkout, "run", HOST=EVERYWHERE)
    assert result.returncode != 0
    assert "refusing HOST=0.0.0.0 with DEBUG on" in result.stderr
    assert "DJANGO_DEBUG=false" in result.stderr
    assert not (checkout / "reached-install").exists()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_hosts_go_on(checkout, host):
    result = make(checkout, "dev-env", HOST=host)
    assert result.returncode == 0, result.stderr


def test_a_network_address_is_allowed_once_debug_is_off(checkout):
    (checkout / ".env").write_text("DJANGO_DEBUG=false\n")
    assert make(checkout, "dev-env", HOST=EVERYWHERE).returncode == 0
    for on in ("True", "1", "yes"):
        (checkout / ".env").write_text(f'DJANGO_DEBUG="{on}"\n')
        assert make(checkout, "dev-env", HOST="192.0.2.10").returncode != 0
