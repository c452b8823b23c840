"""Rollback safety of migrations (issue #22): django-migration-linter over every migration of ours.

A rollback runs the release before against the new schema (deploy/runbooks/deploy-and-rollback.md),
so a migration that drops, renames or narrows a column, or adds a NOT NULL column with no database
default, breaks it. The linter reads the SQL each migration produces (``sqlmigrate`` on the test
Postgres); a migration it flags passes only with ``migration_lint.BackwardIncompatible(reason=...)``
among its operations. The negative controls lint crafted migrations of a throwaway copy of catalog's
migrations (MIGRATION_MODULES), so the real tree is never touched.

Not covered: what the linter cannot see in SQL (a RunPython that rewrites data the release before
reads differently; code that stops writing a column one release too early). The release rehearsal
(test_release_rehearsal.py) serves the release before on the new schema for that.
"""

import io
import shutil
import sys
from contextlib import redirect_stdout
from pathlib import Path

import pytest
from django.apps import apps
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django_migration_linter import IgnoreMigration, MigrationLinter

from migration_lint import BackwardIncompatible
from tests.deploy.conftest import REPO


def our_apps() -> list[str]:
    """The apps of this repository (not Django's or a library's, whose migrations we cannot mark)."""
    inside = [config for config in apps.get_app_configs() if Path(config.path).parent == REPO]
    return sorted(config.label for config in inside if (Path(config.path) / "migrations").is_dir())


def lint(app_labels: list[str]) -> tuple[MigrationLinter, str]:
    report = io.StringIO()
    with redirect_stdout(report):
        linter = MigrationLinter(include_apps=app_labels, no_cache=True)
        linter.lint_all_migrations()
    return linter, report.getvalue()


def unreasoned_exceptions(app_labels: list[str]) -> list[str]:
    """Migrations that skip the linter without BackwardIncompatible's reason (a bare IgnoreMigration)."""
    loader = MigrationLoader(connection, load=True)
    return sorted(
        f"{app}.{name}"
        for (app, name), migration in loader.disk_migrations.items()
        if app in app_labels
        for operation in migration.operations
        if isinstance(operation, IgnoreMigration) and not isinstance(operation, BackwardIncompatible)
    )


@pytest.mark.django_db
def test_every_migration_of_ours_is_backward_compatible_or_says_why():
    labels = our_apps()
    assert {"catalog", "orders", "accounts"} <= set(labels)
    linter, report = lint(labels)
    assert linter.nb_erroneous == 0, report
    assert linter.nb_ignored >= 6  # the marked ones (each with its reason in the migration)
    assert unreasoned_exceptions(labels) == []


@pytest.fixture
def throwaway_catalog_migrations(tmp_path, settings, monkeypatch):
    """catalog's migrations copied into a throwaway package that MIGRATION_MODULES points at."""
    package = tmp_path / "lint_probe_migrations"
    shutil.copytree(REPO / "catalog" / "migrations", package, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.syspath_prepend(str(tmp_path))
    settings.MIGRATION_MODULES = {"catalog": "lint_probe_migrations"}
    latest = max(path.stem for path in package.glob("0*.py"))

    def add(name: str, operations: str, *, imports: str = "") -> None:
        (package / f"{name}.py").write_text(
            f"from django.db import migrations\n{imports}\n\n"
            "class Migration(migrations.Migration):\n"
            f"    dependencies = [('catalog', '{latest}')]\n"
            f"    operations = [{operations}]\n"
        )

    yield add
    for module in [name for name in sys.modules if name.startswith("lint_probe_migrations")]:
        del sys.modules[module]


DROP_COLUMN = "migrations.RemoveField(model_name='product', name='description')"


@pytest.mark.django_db
def test_a_new_migration_that_drops_a_column_fails_the_lint(throwaway_catalog_migrations):
    throwaway_catalog_migrations("9001_drop_description", DROP_COLUMN)
    linter, report = lint(["catalog"])
    assert linter.nb_erroneous == 1, report
    assert "9001_drop_description" in report
    assert "DROPPING columns" in report


@pytest.mark.django_db
def test_a_marked_migration_passes_and_a_bare_exception_is_refused(throwaway_catalog_migrations):
    reason = "Drops description one release after the code stopped reading it (expand, then contract)."
    throwaway_catalog_migrations(
        "9001_drop_description",
        f"BackwardIncompatible(reason={reason!r}), {DROP_COLUMN}",
        imports="from migration_lint import BackwardIncompatible",
    )
    linter, report = lint(["catalog"])
    assert linter.nb_erroneous == 0, report
    # The linter's own mark without a reason also silences the linter: refused here instead.
    throwaway_catalog_migrations(
        "9002_drop_description_bare",
        f"IgnoreMigration(), {DROP_COLUMN}",
        imports="from django_migration_linter import IgnoreMigration",
    )
    assert unreasoned_exceptions(["catalog"]) == ["catalog.9002_drop_description_bare"]


def test_a_mark_without_a_reason_is_refused():
    with pytest.raises(ValueError, match="needs a reason"):
        BackwardIncompatible(reason="because")
