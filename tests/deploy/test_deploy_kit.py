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
    for name in ("GUNICORN_WORKERS", "GUNICORN_BIND", "GUNICORN_TIMEOUT", "GUNICORN_MAX_REQUESTS_JITTER"):
        monkeypatch.delenv(name, raising=False)
    conf = runpy.run_path(str(DEPLOY / "gunicorn.conf.py"))
    assert conf["workers"] == multiprocessing.cpu_count() * 2 + 1
    assert conf["preload_app"] is True  # one Secrets Manager fetch per start, not per worker
    assert conf["timeout"] == 30
    assert conf["graceful_timeout"] == 30
    assert conf["logger_class"] == "jewelry_site.gunicorn_logging.JsonLogger"
    assert conf["bind"] == ["unix:/run/jewelry/gunicorn.sock"]
    assert conf["max_requests_jitter"] == conf["max_requests"] // 2  # workers are not all replaced at once


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


def test_master_compiles_every_project_template_before_the_fork(settings):
    from django.template import engines

    from jewelry_site.warmup import TEMPLATE_SUFFIXES, templates_compile, warm_up

    root = REPO / "templates"
    names = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.suffix in TEMPLATE_SUFFIXES}
    cached_loader = engines["django"].engine.template_loaders[0]
    cached_loader.reset()
    assert warm_up() == len(names) == templates_compile()
    assert {"base.html", "catalog/product_list.html", "includes/_product_card.html"} <= names
    assert names <= set(cached_loader.get_template_cache)  # a worker forked now finds them compiled


def test_a_template_that_does_not_compile_does_not_stop_the_start(tmp_path, settings, caplog):
    from jewelry_site.warmup import templates_compile

    (tmp_path / "fine.html").write_text("<p>{{ name }}</p>")
    (tmp_path / "broken.html").write_text("{% if %}")
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [tmp_path]}]  # Django rebuilds the engines
    assert templates_compile() == 1
    assert "template_warmup_failed" in caplog.text
