"""The deploy kit hangs together: shell scripts parse, units and nginx agree, gunicorn settings load."""

import multiprocessing
import runpy
import subprocess

import pytest

from tests.deploy.conftest import REPO

DEPLOY = REPO / "deploy"


@pytest.mark.parametrize("script", ["deploy/release.sh", "deploy/check-live.sh", "scripts/restore-drill.sh"])
def test_shell_scripts_parse(script):
    result = subprocess.run(["bash", "-n", str(REPO / script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_gunicorn_settings(monkeypatch):
    for name in ("GUNICORN_WORKERS", "GUNICORN_BIND", "GUNICORN_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    conf = runpy.run_path(str(DEPLOY / "gunicorn.conf.py"))
    assert conf["workers"] == multiprocessing.cpu_count() * 2 + 1
    assert conf["preload_app"] is True  # one Secrets Manager fetch per start, not per worker
    assert conf["timeout"] == 30
    assert conf["graceful_timeout"] == 30
    assert conf["logger_class"] == "jewelry_site.gunicorn_logging.JsonLogger"
    assert conf["bind"] == ["unix:/run/jewelry/gunicorn.sock"]


def test_units_and_nginx_agree_on_the_socket():
    socket_unit = (DEPLOY / "jewelry.socket").read_text()
    service = (DEPLOY / "jewelry.service").read_text()
    nginx = (DEPLOY / "nginx.conf").read_text()
    assert "ListenStream=/run/jewelry/gunicorn.sock" in socket_unit
    assert "server unix:/run/jewelry/gunicorn.sock" in nginx
    assert "-c deploy/gunicorn.conf.py" in service
    assert "ExecReload=/bin/kill -s HUP $MAINPID" in service
    assert "EnvironmentFile=/etc/jewelry/aws.env" in service


def test_runbooks_exist():
    names = {path.name for path in (DEPLOY / "runbooks").glob("*.md")}
    assert names >= {
        "deploy-and-rollback.md",
        "rotate-secrets.md",
        "backup-restore.md",
        "alarms.md",
        "handover.md",
    }
