"""Issue 13: the arrows between our apps run one way, and no two modules import each other.

Read from the source (every import, at the top of a module or inside a function), so an arrow added
anywhere fails here, with the file that adds it. The allowed arrows are the house style's
(../shared/style.md, "Which way dependencies run") for the apps that exist today.

Issue 20: an arrow is also a module named in a string (``importlib.import_module("x")``,
``import_string("x.y")``), a model named in a string (``ForeignKey("app.Model")``, ``to="app.Model"``,
``apps.get_model("app", ...)``) and a migration's ``dependencies``; migrations are read for all of these
(not for cycles: Django orders them). A reference through settings (``settings.AUTH_USER_MODEL``,
``swappable_dependency``) is not an arrow: that is how an app reaches the user model without knowing
accounts. Settings strings (INSTALLED_APPS, MIDDLEWARE...) live in jewelry_site, which may name every
app. And the ALLOWED table itself has no cycle.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Each app and the apps of ours it may import. A new app must be added here, with its place.
ALLOWED = {
    "catalog": set(),
    # stands alone (the user model is reached through settings.AUTH_USER_MODEL) but for the mail queue,
    # which knows no app: the password reset e-mail is queued like every other (issue #21)
    "accounts": {"mailqueue"},
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


def _modules(root: Path, *, migrations: bool = False) -> dict[str, Path]:
    found = {}
    for app in ALLOWED:
        for path in (root / app).rglob("*.py"):
            if "migrations" in path.parts and not migrations:
                continue
            parts = path.relative_to(root).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


STRING_IMPORTERS = frozenset({"import_module", "import_string"})
MODEL_FIELDS = frozenset({"ForeignKey", "OneToOneField", "ManyToManyField"})


def _called(node: ast.Call) -> str:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def _string(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _imports(name: str, path: Path) -> set[str]:
    """Modules this one imports, by statement or by a string given to import_module/import_string."""
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
        elif isinstance(node, ast.Call) and _called(node) in STRING_IMPORTERS and node.args:
            named = _string(node.args[0])
            if named and not named.startswith("."):
                names.add(named)
    return names


def _model_references(path: Path) -> set[str]:
    """Apps whose models this file names in a string: ForeignKey("app.Model"), to=..., apps.get_model(...)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        called = _called(node)
        if called in MODEL_FIELDS:
            target = _string(node.args[0]) if node.args else None
            target = target or next((_string(k.value) for k in node.keywords if k.arg == "to"), None)
            if target and "." in target:
                found.add(target)
        elif called == "get_model" and node.args and _string(node.args[0]):
            found.add(".".join(_string(a) or "" for a in node.args[:2]).strip("."))
    return found


def _migration_dependencies(path: Path) -> set[str]:
    """The apps a migration depends on, from its ``dependencies`` list of (app, name) pairs."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "dependencies" for t in node.targets):
            for element in getattr(node.value, "elts", []):
                if isinstance(element, ast.Tuple) and element.elts and _string(element.elts[0]):
                    found.add(f"{_string(element.elts[0])} migration {_string(element.elts[1]) or '?'}")
    return found


def test_every_app_is_placed():
    apps = {p.parent.name for p in ROOT.glob("*/apps.py")} | {"jewelry_site", "loopback"}
    assert apps == set(ALLOWED), "a new app: give it its place (and its allowed arrows) in ALLOWED"


def _wrong_arrows(root: Path) -> list[str]:
    wrong = set()
    for name, path in _modules(root, migrations=True).items():
        app = name.split(".")[0]
        where = path.relative_to(root)
        arrows = [(imported, f"{where} imports {imported}") for imported in _imports(name, path)]
        arrows += [(model, f"{where} refers to {model}") for model in _model_references(path)]
        if "migrations" in path.parts:
            arrows += [(dep, f"{where} depends on {dep}") for dep in _migration_dependencies(path)]
        for target_name, arrow in arrows:
            target = target_name.split(".")[0].split(" ")[0]
            if target in ALLOWED and target != app and target not in ALLOWED[app]:
                wrong.add(arrow)
    return sorted(wrong)


def _allowed_cycles(allowed: dict[str, set[str]]) -> list[str]:
    """Cycles in the table of allowed arrows: each one would let two apps import each other."""
    cycles = []
    for start in allowed:
        stack = [(start, [start])]
        while stack:
            node, trail = stack.pop()
            for nxt in sorted(allowed.get(node, ())):
                if nxt == start:
                    cycles.append(" -> ".join([*trail, start]))
                elif nxt not in trail:
                    stack.append((nxt, [*trail, nxt]))
    return sorted(cycles)


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


def test_the_allowed_arrows_have_no_cycle():
    assert _allowed_cycles(ALLOWED) == []


def test_the_cycle_check_of_the_table_finds_a_cycle():
    made_up = {"catalog": {"orders"}, "cart": {"catalog"}, "orders": {"cart"}, "accounts": set()}
    assert _allowed_cycles(made_up) == [
        "cart -> catalog -> orders -> cart",
        "catalog -> orders -> cart -> catalog",
        "orders -> cart -> catalog -> orders",
    ]


# Each string-borne arrow, made up in an app that may not point at orders: the check must find it.
FIELD = "from django.db import models\nclass A(models.Model):\n    o = models."
STRING_ARROWS = {
    "import_module": ('import importlib\nm = importlib.import_module("orders.services")\n', "imports orders.services"),
    "import_string": (
        'f = import_string("orders.workflow.order_transition")\n',
        "imports orders.workflow.order_transition",
    ),
    "string foreign key": (FIELD + 'ForeignKey("orders.Order", on_delete=models.CASCADE)\n', "refers to orders.Order"),
    "foreign key to=": (
        FIELD + 'OneToOneField(to="orders.Order", on_delete=models.CASCADE)\n',
        "refers to orders.Order",
    ),
    "get_model": ('def f(apps):\n    return apps.get_model("orders", "Order")\n', "refers to orders.Order"),
}


@pytest.mark.parametrize(("source", "arrow"), STRING_ARROWS.values(), ids=STRING_ARROWS.keys())
def test_the_check_finds_an_arrow_named_in_a_string(tmp_path, source, arrow):
    (tmp_path / "catalog").mkdir()
    (tmp_path / "catalog" / "models.py").write_text(source)
    assert _wrong_arrows(tmp_path) == [f"catalog/models.py {arrow}"]


def test_the_check_finds_a_migration_depending_on_an_app_above(tmp_path):
    (tmp_path / "catalog" / "migrations").mkdir(parents=True)
    (tmp_path / "catalog" / "migrations" / "0009_x.py").write_text(
        "from django.conf import settings\nfrom django.db import migrations\n"
        "class Migration(migrations.Migration):\n"
        "    dependencies = [('catalog', '0008_y'), ('orders', '0003_z'), "
        "migrations.swappable_dependency(settings.AUTH_USER_MODEL)]\n"
        "    operations = [migrations.AddField('stockadjustment', 'line', "
        "models.ForeignKey(on_delete=models.PROTECT, to='orders.orderline'))]\n"
    )
    assert _wrong_arrows(tmp_path) == [
        "catalog/migrations/0009_x.py depends on orders migration 0003_z",
        "catalog/migrations/0009_x.py refers to orders.orderline",
    ]


def test_strings_within_the_app_or_below_are_allowed(tmp_path):
    (tmp_path / "cart").mkdir()
    (tmp_path / "cart" / "models.py").write_text(
        "from django.db import models\nfrom django.utils.module_loading import import_string\n"
        'class Line(models.Model):\n    v = models.ForeignKey("catalog.ProductVariant", on_delete=models.CASCADE)\n'
        '    c = models.ForeignKey("self", on_delete=models.CASCADE)\n'
        "    u = models.ForeignKey(settings.AUTH_USER_MODEL)\n"
        'f = import_string("cart.cart.Cart")\n'
    )
    assert _wrong_arrows(tmp_path) == []


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
