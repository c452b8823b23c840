"""A migration the release before it cannot run against, accepted on purpose, with the reason why.

`make test` lints every migration of ours with django-migration-linter (tests/deploy/test_migration_lint.py):
a migration that drops, renames or narrows a column, or adds a NOT NULL column without a database
default, breaks the release before it, which a rollback runs against the new schema
(deploy/runbooks/deploy-and-rollback.md). Such a migration passes only when it carries, among its
operations, ``BackwardIncompatible(reason="...")``: the linter's own per-migration exception
(``IgnoreMigration``) with the reason written next to the change, for the reviewer and the operator.

The linter is a dev tool (requirements-dev.txt) that the instances do not install, yet their
``migrate`` imports every migration: there this is a plain no-op operation of Django's.
"""

from django.db.migrations.operations.base import Operation

try:
    from django_migration_linter import IgnoreMigration as _Exception
except ImportError:  # an instance: no linter, nothing reads the mark
    _Exception = Operation


class BackwardIncompatible(_Exception):
    """No-op operation; the linter skips the migration that holds it. ``reason`` must say why."""

    reversible = True
    reduces_to_sql = False
    elidable = True

    def __init__(self, *, reason: str) -> None:
        if len(reason.split()) < 5:
            raise ValueError("BackwardIncompatible needs a reason: what breaks for the release before, why accepted")
        self.reason = reason

    def state_forwards(self, app_label, state):
        pass

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        pass

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        pass

    def describe(self) -> str:
        return f"Backward-incompatible on purpose: {self.reason}"
