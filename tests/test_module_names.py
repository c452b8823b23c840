"""House rule (issue 13): no module of ours shadows a standard-library module (``logging.py``, ``secrets.py``)."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# `selectors.py` is the house style's name for read queries (style.md); inside a package it is never
# imported bare, and no code of ours needs the standard `selectors` module.
ALLOWED = {"selectors", "__init__"}
SKIP = {".venv", ".venv-tools", ".git", "node_modules", "staticfiles", "media"}


def test_no_module_shadows_the_standard_library():
    shadowing = sorted(
        str(path.relative_to(ROOT))
        for path in ROOT.rglob("*.py")
        if not SKIP & set(path.relative_to(ROOT).parts)
        and path.stem in sys.stdlib_module_names
        and path.stem not in ALLOWED
    )
    assert shadowing == []
