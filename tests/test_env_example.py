"""`.env.example` and the settings agree (issue #22): every variable the shop reads is documented there
with a comment, and nothing documented there is read by nothing.

"Read" means an exact ``DJANGO_*`` (or, in gunicorn's config, ``GUNICORN_*``) string in the code of the
shop: the settings, every app, manage.py and deploy/gunicorn.conf.py. Strings in docstrings and messages
("set DJANGO_X or DJANGO_Y") are not exact names and do not count; APP_CONFIG keys reach settings
through the same ``DJANGO_*`` names, so they are covered too. bench/ and tests/ set variables, they do
not define the shop's, and are left out.
"""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP_DIRS = (
    "jewelry_site",
    "accounts",
    "catalog",
    "cart",
    "orders",
    "payments",
    "mailqueue",
    "pages",
    "restock",
    "wishlist",
)
EXTRA_FILES = ("manage.py", "deploy/gunicorn.conf.py")
NAME = re.compile(r"^(DJANGO|GUNICORN)_[A-Z0-9_]+$")
# `# DJANGO_X=value` or `DJANGO_X=value`, optionally followed by `# comment`.
DOC_LINE = re.compile(r"^#?\s*((?:DJANGO|GUNICORN)_[A-Z0-9_]+)=(.*)$")


def names_read_in(source: str) -> set[str]:
    """Exact variable names used as string constants in Python code (docstrings excluded)."""
    tree = ast.parse(source)
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
        and NAME.match(node.value)
    }


def names_read(root: Path = ROOT) -> dict[str, str]:
    """Every variable the shop reads, with one file that reads it."""
    files = [p for d in APP_DIRS for p in sorted((root / d).rglob("*.py")) if "migrations" not in p.parts]
    files += [root / f for f in EXTRA_FILES]
    found: dict[str, str] = {}
    for path in files:
        for name in names_read_in(path.read_text()):
            found.setdefault(name, str(path.relative_to(root)))
    return found


def names_documented(text: str) -> tuple[dict[str, int], list[str]]:
    """Variables in an .env.example text (name -> line number), and those without a comment.

    A variable is explained by a comment on its own line (``DJANGO_X=1  # why``) or by the prose
    comment line that opens its group (variables listed one under another share it).
    """
    documented: dict[str, int] = {}
    uncommented: list[str] = []
    explained = False
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        match = DOC_LINE.match(stripped)
        if match:
            name, rest = match.groups()
            documented.setdefault(name, number)
            if not (explained or re.search(r"\s#\s*\S", rest)):
                uncommented.append(name)
        elif stripped.startswith("#") and re.search(r"[A-Za-z]{3}", stripped) and not stripped.startswith("# ---"):
            # A prose line explains what follows; `#   {...}` continuation lines keep the current state.
            explained = True
        elif not stripped or stripped.startswith("# ---"):
            explained = False
    return documented, uncommented


def test_every_variable_the_shop_reads_is_in_env_example_with_a_comment():
    documented, uncommented = names_documented((ROOT / ".env.example").read_text())
    missing = {name: where for name, where in names_read().items() if name not in documented}
    assert not missing, f"read but not in .env.example (add each with a comment): {missing}"
    assert not uncommented, f"in .env.example without a comment saying what it is for: {uncommented}"


def test_each_variable_is_documented_once():
    """A second entry (a merge that kept both sides) says the same twice at best, two defaults at worst.
    Failed on the merged .env.example: the stack-secrets/operator-config block was there twice."""
    names = [m[1] for line in (ROOT / ".env.example").read_text().splitlines() if (m := DOC_LINE.match(line.strip()))]
    assert sorted({n for n in names if names.count(n) > 1}) == []


def test_nothing_in_env_example_is_read_by_nothing():
    documented, _ = names_documented((ROOT / ".env.example").read_text())
    stale = sorted(set(documented) - set(names_read()))
    assert not stale, f"in .env.example but read nowhere (remove, or wire it up): {stale}"


# --- The checks above catch what they claim (negative controls on made-up inputs) ---------------------


def test_the_reader_finds_code_reads_and_skips_docstrings_and_messages():
    source = '''"""Reads DJANGO_IN_DOCSTRING."""
import os
A = env.int("DJANGO_A", default=1)
B = os.environ.get("GUNICORN_B", "x")
raise SystemExit("set DJANGO_C or DJANGO_D")
'''
    assert names_read_in(source) == {"DJANGO_A", "GUNICORN_B"}


def test_the_documentation_parser_needs_a_comment_and_reports_each_name():
    text = """# --- Section ---
# Why the next two exist:
# DJANGO_GROUPED=1
# DJANGO_GROUPED_TOO=2

# DJANGO_ALONE=3
# DJANGO_INLINE=4  # why this one exists
"""
    documented, uncommented = names_documented(text)
    assert set(documented) == {"DJANGO_GROUPED", "DJANGO_GROUPED_TOO", "DJANGO_ALONE", "DJANGO_INLINE"}
    assert uncommented == ["DJANGO_ALONE"]


def test_a_variable_read_but_undocumented_is_caught(tmp_path):
    app = tmp_path / "jewelry_site"
    app.mkdir()
    (app / "x.py").write_text('X = env.str("DJANGO_NEW_THING", default="")\n')
    for extra in EXTRA_FILES:
        (tmp_path / extra).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / extra).write_text("")
    for other in APP_DIRS[1:]:
        (tmp_path / other).mkdir()
    read = names_read(tmp_path)
    documented, _ = names_documented("# Something else:\n# DJANGO_OLD_THING=1\n")
    assert set(read) - set(documented) == {"DJANGO_NEW_THING"}
    assert set(documented) - set(read) == {"DJANGO_OLD_THING"}


def test_the_docs_name_only_variables_the_shop_reads():
    """README, deploy/ docs and runbooks: a variable named there that nothing reads is advice that does nothing."""
    docs = [ROOT / "README.md", ROOT / "deploy" / "README.md", *sorted((ROOT / "deploy" / "runbooks").glob("*.md"))]
    docs += sorted((ROOT / "deploy").glob("*.env.example"))
    read = names_read()
    placeholder = {"DJANGO_K"}  # "APP_CONFIG's key K feeds DJANGO_K": the rule, not a variable
    unknown = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in docs
        for name in re.findall(r"\b(?:DJANGO|GUNICORN)_[A-Z0-9_]*[A-Z0-9]\b", path.read_text())
        if name not in read and name not in placeholder
    }
    assert not unknown, f"documented but read by nothing: {sorted(unknown)}"


def test_base_settings_are_grouped_by_subject_not_appended_per_change():
    """Each subject has one section in base.py; lists are written where they are declared."""
    text = (ROOT / "jewelry_site" / "settings" / "base.py").read_text()
    headers = re.findall(r"^# === (.+?) =+$", text, flags=re.M)
    assert len(headers) >= 10, headers
    assert len(headers) == len(set(headers)), headers
    appended = re.findall(r"^(?:INSTALLED_APPS|MIDDLEWARE) \+=|^LOGGING\[", text, flags=re.M)
    assert not appended, f"extend the list in the Core/Logging section instead: {appended}"
