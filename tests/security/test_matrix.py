"""The security matrix (tests/security/__init__.py) names only tests that exist."""

import ast
import re
from pathlib import Path

import tests.security

ROOT = Path(__file__).resolve().parents[2]
ROW = re.compile(r"^\|\s*(S\d+)\s*\|[^|]*\|[^|]*\|\s*(.+?)\s*\|\s*$")


def matrix_rows() -> list[tuple[str, str]]:
    rows = [ROW.match(line) for line in tests.security.__doc__.splitlines()]
    return [(row.group(1), row.group(2)) for row in rows if row]


def test_every_test_named_in_the_matrix_exists():
    rows = matrix_rows()
    assert len(rows) > 30
    missing = []
    for case, proof in rows:
        path, _, name = proof.partition("::")
        module = ROOT / path
        names = set()
        if module.exists():
            names = {node.name for node in ast.walk(ast.parse(module.read_text())) if isinstance(node, ast.FunctionDef)}
        if name not in names:
            missing.append(f"{case}: {proof}")
    assert missing == []


def test_every_case_of_issue_15_has_a_row():
    cases = {case for case, _ in matrix_rows()}
    assert {f"S{n}" for n in range(1, 14)} <= cases
