"""The pre-commit hooks (.pre-commit-config.yaml): the ruff they pin is the ruff the suite pins, and
the local migrations hook runs, through pre-commit itself, and passes on this tree.

Not covered: the ruff hooks themselves (pre-commit would clone ruff-pre-commit from GitHub; the suite
stays offline). `make test` runs the same ruff version on the same tree."""

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
CONFIG = yaml.safe_load((REPO / ".pre-commit-config.yaml").read_text())


def test_the_ruff_hooks_pin_the_ruff_of_requirements_dev():
    pinned = re.search(r"^ruff==(\S+)$", (REPO / "requirements-dev.txt").read_text(), re.MULTILINE).group(1)
    ruff = next(repo for repo in CONFIG["repos"] if repo["repo"].endswith("/ruff-pre-commit"))
    assert ruff["rev"] == f"v{pinned}"
    assert [hook["id"] for hook in ruff["hooks"]] == ["ruff-check", "ruff-format"]


def test_the_migrations_hook_runs_through_pre_commit_and_passes(tmp_path):
    local = [repo for repo in CONFIG["repos"] if repo["repo"] == "local"]
    assert [hook["id"] for repo in local for hook in repo["hooks"]] == ["migrations-check"]
    config = tmp_path / "local-hooks.yaml"
    config.write_text(yaml.safe_dump({"repos": local}))
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "cache")}
    env.pop("DJANGO_DATABASE_URL", None)
    result = subprocess.run(
        [str(Path(sys.executable).with_name("pre-commit")), "run", "--config", str(config), "--all-files"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"makemigrations --check\.+Passed", result.stdout)
