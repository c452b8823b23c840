"""Issue 20: a variant's stock changes only through catalog.services.stock, so every piece is accounted for.

Orders move stock with ``variant_stock_move`` (the order's lines and events are its record); staff and
the CSV import with ``variant_stock_adjust`` (a StockAdjustment: who, why, before, after). This test
reads the code and fails on any other write of ProductVariant.stock:

* ``x.stock = v`` (also augmented, annotated or in a tuple), ``setattr(x, "stock", v)``;
* ``.update(stock=...)`` (an ``F("stock") - 1`` too), ``.update(**{"stock": ...})``,
  ``update_or_create(defaults={"stock": ...})``, ``bulk_update(objs, [..., "stock"])``,
  ``save(update_fields=[..., "stock"])``;
* raw SQL text that updates or inserts catalog_productvariant and names stock;
* creating a variant with a stock (``ProductVariant(stock=3)``, ``objects.create(stock=3)``), or a dict
  carrying "stock" (how a ``setattr`` loop or ``**row`` gets it), except in the two loaders that build a
  whole catalogue from nothing (CREATES_WITH_STOCK, each with its reason): a shop's new variant starts
  at 0 and its opening stock is a StockAdjustment, as the admin and the import do.

Raw SQL on other catalogue tables is guarded by test_write_paths.test_no_code_writes_catalogue_tables_around_the_orm;
this one also reads the files that guard allows (the bench loader may write dates raw, never stock).
What it cannot see: a column name built at run time (``setattr(v, name, value)`` with a name from
outside the file). Each shape has a made-up negative control below.
"""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STOCK_SERVICE = "catalog/services/stock.py"
CREATES_WITH_STOCK = {
    "bench/catalog_data.py": "the bench loader creates thousands of variants in one bulk insert, before any sale",
    "catalog/demo.py": "the demo catalogue is created once, with no orders; a variant it finds is never changed",
}
RAW_STOCK_WRITE = re.compile(
    r"(?is)\b(update\s+[\"`]?catalog_productvariant\b[^;]*\bstock\b|insert\s+into\s+[\"`]?catalog_productvariant\b[^;]*\bstock\b)"
)
DEFAULTS = ("defaults", "create_defaults")
CREATORS = frozenset({"create", "get_or_create", "bulk_create", "ProductVariant"})


def _string_text(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(
            v.value if isinstance(v, ast.Constant) else "{" + ast.unparse(v.value) + "}"
            for v in node.values
            if isinstance(v, (ast.Constant, ast.FormattedValue))
        )
    return None


def _names_stock(node: ast.AST | None) -> bool:
    return node is not None and any(isinstance(n, ast.Constant) and n.value == "stock" for n in ast.walk(node))


def _called(func: ast.AST) -> str:
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


class _StockWrites(ast.NodeVisitor):
    def __init__(self, path: str) -> None:
        self.path = path
        self.loader = path in CREATES_WITH_STOCK
        self.found: list[str] = []
        self.function = "<module>"

    def _flag(self, node: ast.AST, shape: str) -> None:
        self.found.append(f"{self.path}:{node.lineno} {self.function} {shape}")

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        outer, self.function = self.function, node.name
        self.generic_visit(node)
        self.function = outer

    visit_AsyncFunctionDef = visit_FunctionDef  # noqa: N815

    def _targets(self, node: ast.AST, targets: list[ast.AST]) -> None:
        for target in targets:
            for part in ast.walk(target):
                if isinstance(part, ast.Attribute) and part.attr == "stock" and isinstance(part.ctx, ast.Store):
                    self._flag(node, "assigns .stock")

    def visit_Assign(self, node: ast.Assign) -> None:
        self._targets(node, node.targets)
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._targets(node, [node.target])
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._targets(node, [node.target])
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        called = _called(node.func)
        keywords = {k.arg for k in node.keywords if k.arg is not None}
        spread = [k.value for k in node.keywords if k.arg is None]
        stock_keyword = "stock" in keywords or any(
            isinstance(d, ast.Dict) and _names_stock(ast.List(elts=d.keys)) for d in spread
        )
        if called == "setattr" and len(node.args) >= 2 and _names_stock(node.args[1]):
            self._flag(node, "setattr stock")
        elif called == "update" and stock_keyword:
            self._flag(node, "update(stock=...)")
        elif called == "update_or_create" and (
            stock_keyword
            or any(_names_stock(k.value) for k in node.keywords if k.arg in ("defaults", "create_defaults"))
        ):
            self._flag(node, "update_or_create with stock")
        elif called == "bulk_update" and (
            any(_names_stock(a) for a in node.args[1:]) or any(_names_stock(k.value) for k in node.keywords)
        ):
            self._flag(node, "bulk_update stock")
        elif called == "save" and any(_names_stock(k.value) for k in node.keywords if k.arg == "update_fields"):
            self._flag(node, "save(update_fields=[stock])")
        elif called in CREATORS and stock_keyword and not self.loader:
            self._flag(node, "creates a variant with stock")
        elif called == "dict" and "stock" in keywords and not self.loader:
            self._flag(node, "a dict carrying stock")
        self.generic_visit(node)

    def visit_Dict(self, node: ast.Dict) -> None:
        keys = [k for k in node.keys if isinstance(k, ast.Constant)]
        if any(k.value == "stock" for k in keys) and not self.loader:
            self._flag(node, "a dict carrying stock")
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and RAW_STOCK_WRITE.search(node.value):
            self._flag(node, "raw SQL")

    def visit_JoinedStr(self, node: ast.JoinedStr) -> None:
        if RAW_STOCK_WRITE.search(_string_text(node) or ""):
            self._flag(node, "raw SQL")


def stock_writes_in(source: str, *, path: str) -> list[str]:
    """Every write of a variant's stock in this source, as 'path:line function shape'; none in the service."""
    if path == STOCK_SERVICE:
        return []
    visitor = _StockWrites(path)
    visitor.visit(ast.parse(source, filename=path))
    return visitor.found


def _shop_files() -> list[Path]:
    folders = {p.parent for p in ROOT.glob("*/apps.py")} | {ROOT / "jewelry_site", ROOT / "bench"}
    return sorted(p for folder in folders for p in folder.rglob("*.py") if "migrations" not in p.parts)


def test_only_the_stock_service_writes_stock():
    assert {"catalog", "orders", "bench"} <= {p.relative_to(ROOT).parts[0] for p in _shop_files()}
    found = []
    for path in _shop_files():
        relative = path.relative_to(ROOT).as_posix()
        found += stock_writes_in(path.read_text(encoding="utf-8"), path=relative)
    assert found == []


def test_every_loader_allowed_to_create_with_stock_exists():
    """An allowance for a file that is gone would silently cover a new file of that name."""
    assert all((ROOT / path).is_file() for path in CREATES_WITH_STOCK)


# --- Negative controls: each made-up bypass must be found ------------------------------------------
BYPASSES = {
    "assignment": "def f(v):\n    v.stock = 3\n    v.save()\n",
    "augmented": "def f(variant):\n    variant.stock -= 1\n",
    "tuple": "def f(v):\n    v.price, v.stock = 1, 2\n",
    "setattr": "def f(v):\n    setattr(v, 'stock', 3)\n",
    "queryset update": "def f(pk):\n    ProductVariant.objects.filter(pk=pk).update(stock=0)\n",
    "F() update": "def f(qs):\n    qs.update(stock=F('stock') - 1)\n",
    "update with a dict": "def f(qs, n):\n    qs.update(**{'stock': n})\n",
    "update_or_create defaults": (
        "def f(sku, n):\n    ProductVariant.objects.update_or_create(sku=sku, defaults={'stock': n})\n"
    ),
    "bulk_update": "def f(vs):\n    ProductVariant.objects.bulk_update(vs, ['price', 'stock'])\n",
    "bulk_update fields keyword": "def f(vs):\n    ProductVariant.objects.bulk_update(vs, fields=('stock',))\n",
    "save update_fields": "def f(v):\n    v.save(update_fields=['stock'])\n",
    "raw SQL": "def f(c):\n    c.execute('UPDATE catalog_productvariant SET stock = stock - 1 WHERE id = %s', [1])\n",
    "raw SQL f-string": "def f(c, n):\n    c.execute(f'update \"catalog_productvariant\" set stock = {n}')\n",
    "create with stock": "def f(p):\n    ProductVariant.objects.create(product=p, sku='X', stock=5)\n",
    "constructor with stock": "def f(p):\n    return ProductVariant(product=p, stock=5)\n",
    "a setattr loop over a dict with stock": (
        "def f(v, row):\n    for k, x in {'price': row.price, 'stock': row.stock}.items():\n        setattr(v, k, x)\n"
    ),
    "dict(stock=...)": "def f(v, n):\n    changes = dict(price=1, stock=n)\n",
    "module level": "ProductVariant.objects.all().update(stock=0)\n",
}


@pytest.mark.parametrize("source", BYPASSES.values(), ids=BYPASSES.keys())
def test_the_checker_finds_each_bypass(source):
    assert stock_writes_in(source, path="catalog/made_up.py") != []


def test_a_loader_may_create_with_stock_but_never_change_it():
    created = "def f(p):\n    ProductVariant.objects.bulk_create([ProductVariant(product=p, stock=5)])\n"
    assert stock_writes_in(created, path="bench/catalog_data.py") == []
    assert len(stock_writes_in(BYPASSES["queryset update"], path="bench/catalog_data.py")) == 1
    assert len(stock_writes_in(BYPASSES["raw SQL"], path="bench/catalog_data.py")) == 1


ALLOWED = {
    "the stock service": (STOCK_SERVICE, "def f(qs, d):\n    QuerySet.update(qs, stock=F('stock') + d)\n"),
    "reading and filtering": (
        "orders/admin.py",
        "def f(qs, v):\n    n = v.stock\n    qs.filter(stock=0).order_by('stock')\n    return Sum('stock'), n\n",
    ),
    "a restock flag is not stock": ("payments/refunds.py", "def f(r):\n    Refund.objects.create(restock=True)\n"),
    "raw SQL that reads": ("bench/rows.py", "Q = 'SELECT stock FROM catalog_productvariant WHERE id = %s'\n"),
}


@pytest.mark.parametrize(("path", "source"), ALLOWED.values(), ids=ALLOWED.keys())
def test_the_checker_leaves_reads_and_the_service_alone(path, source):
    assert stock_writes_in(source, path=path) == []
