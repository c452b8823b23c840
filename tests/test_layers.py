"""Issue 13: the arrows between our apps run one way, and no two modules import each other.

Read from the source (every import, at the top of a module or inside a function), so an arrow added
anywhere fails here, with the file that adds it. The allowed arrows are the house style's
(../shared/style.md, "Which way dependencies run") for the apps that exist today.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Each app and the apps of ours it may import. A new app must be added here, with its place.
ALLOWED = {
    "catalog": set(),
    "accounts": set(),  # stands alone: the user model is reached through settings.AUTH_USER_MODEL
    "mailqueue": set(),  # any app's e-mail goes through it; it knows none of them
    "pages": set(),
    "loopback": set(),  # the loopback server helpers of tests and bench
    "cart": {"catalog"},
    "wishlist": {"catalog"},
    "restock": {"catalog", "mailqueue"},
    "orders": {"catalog", "cart", "accounts", "mailqueue"},
    "payments": {"catalog", "cart", "orders", "accounts", "mailqueue"},
    "jewelry_site": {"catalog", "cart", "orders", "payments", "accounts", "mailqueue", "pages", "restock", "wishlist"},
}


def _modules(root: Path) -> dict[str, Path]:
    found = {}
    for app in ALLOWED:
        for path in (root / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            parts = path.relative_to(root).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports(name: str, path: Path) -> set[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def test_every_app_is_placed():
    apps = {p.parent.name for p in ROOT.glob("*/apps.py")} | {"jewelry_site", "loopback"}
    assert apps == set(ALLOWED), "a new app: give it its place (and its allowed arrows) in ALLOWED"


def _wrong_arrows(root: Path) -> list[str]:
    wrong = set()
    for name, path in _modules(root).items():
        app = name.split(".")[0]
        for imported in _imports(name, path):
            target = imported.split(".")[0]
            if target in ALLOWED and target != app and target not in ALLOWED[app]:
                wrong.add(f"{path.relative_to(root)} imports {imported}")
    return sorted(wrong)


def _cycles(root: Path) -> list[str]:
    modules = _modules(root)
    graph = {name: {m for m in _imports(name, path) if m in modules and m != name} for name, path in modules.items()}
    cycles = []
    for start in modules:  # a small graph: a depth-first search from each module is enough
        stack, seen = [(start, [start])], set()
        while stack:
            node, trail = stack.pop()
            for nxt in graph[node]:
                if nxt == start:
                    cycles.append(" -> ".join([*trail, start]))
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, [*trail, nxt]))
    return cycles


def test_no_app_imports_one_above_it():
    assert _wrong_arrows(ROOT) == []


def test_no_two_modules_import_each_other():
    assert _cycles(ROOT) == []


def test_the_checks_find_a_wrong_arrow_and_a_cycle(tmp_path):
    """Both checks would pass on a parser that finds nothing: a made-up tree shows they find what they must."""
    (tmp_path / "catalog").mkdir()
    (tmp_path / "catalog" / "models.py").write_text("def f():\n    from orders.services import order_place\n")
    (tmp_path / "orders").mkdir()
    (tmp_path / "orders" / "services.py").write_text("from .emails import mail\nfrom catalog.models import f\n")
    (tmp_path / "orders" / "emails.py").write_text("from . import services\n")
    assert _wrong_arrows(tmp_path) == [
        "catalog/models.py imports orders.services",
        "catalog/models.py imports orders.services.order_place",
    ]
    assert sorted(_cycles(tmp_path)) == [
        "catalog.models -> orders.services -> catalog.models",
        "orders.emails -> orders.services -> orders.emails",
        "orders.services -> catalog.models -> orders.services",
        "orders.services -> orders.emails -> orders.services",
    ]
