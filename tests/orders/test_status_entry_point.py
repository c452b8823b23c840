"""Every order status change goes through orders.workflow.order_transition, which checks the move,
records the event and queues the shopper's e-mail. This test reads the shop's code and fails on any
other write of an order's status, whatever else the writing function does (queuing the shopper's
e-mail too no longer excuses it: that is how `order_reinstate_paid` slipped past, issue 20).

The rule, per statement, outside `order_transition` in orders/workflow.py:

* A write of a `status` is any of: `x.status = v` (also in a tuple, annotated or augmented),
  `setattr(x, "status", v)`, `<queryset>.update(status=v)` or `.update(**{"status": v})`,
  `.update_or_create(defaults={"status": v})`, `bulk_update(objs, [..., "status"])`, and raw SQL text
  (a string or f-string) that updates `orders_order` (or `Order._meta.db_table`) and names `status`.
* It is an ORDER's status when the value is an OrderStatus member or one of its values written out
  ("paid"), or when what is written is order-typed: a name containing "order", an `.order` attribute,
  anything built from `Order` (`Order.objects...`, `get_object_or_404(Order, ...)`), a name assigned
  or looped from one of those, a parameter annotated with Order, `self` inside a class named Order...,
  and for raw SQL the table name itself.
* So a Payment's Stripe word (`payment.status = "succeeded"`) or a Refund's RefundStatus is not an
  order's status: no OrderStatus value is also a Stripe or refund word (a test below keeps it so).
  Creating an order with its first status (`Order.objects.create(...)`) is not a change of status.

What it cannot see: a status given through a variable to an object of unknown type
(`thing.status = new` where nothing says `thing` is an order). Each shape has a made-up negative
control below that the checker must flag, and a payments-like control it must leave alone.
"""

import ast
import re
from pathlib import Path

import pytest

from orders.models import OrderStatus
from payments.models import RefundStatus

REPO = Path(__file__).resolve().parents[2]
# The shop's own apps (each has an apps.py) and the project package; never venvs, tests or tools.
APPS = sorted({p.parent for p in REPO.glob("*/apps.py")} | {REPO / "jewelry_site"})
THE_WRITER = ("orders/workflow.py", "order_transition")

ORDER_WORD = re.compile(r"\bOrder\b")
ORDERISH_NAME = re.compile(r"order", re.IGNORECASE)
ORDER_STATUS_VALUES = frozenset(OrderStatus.values)
RAW_ORDER_STATUS = re.compile(r"(?is)\bupdate\s+[\"`]?(orders_order|\{Order\._meta\.db_table\})[\"`]?\s.*\bstatus\b")
STRIPE_INTENT_WORDS = {
    "requires_payment_method",
    "requires_confirmation",
    "requires_action",
    "processing",
    "requires_capture",
    "canceled",
    "succeeded",
}


def _text(node: ast.AST) -> str:
    return ast.unparse(node)


def _is_order_status_value(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return node.value in ORDER_STATUS_VALUES
    return "OrderStatus" in _text(node)


# Steps along a chain that keep the model: Order.objects.filter(...).select_for_update() is still orders,
# while order.payments is payments (the last other name decides).
QUERYSET_STEPS = frozenset(
    {
        *("objects", "_base_manager", "_default_manager", "all", "filter", "exclude", "using", "order_by"),
        *("select_for_update", "select_related", "prefetch_related", "only", "defer", "annotate", "distinct"),
        *("none", "get", "first", "last", "latest", "earliest", "iterator"),
    }
)
FETCHERS = frozenset({"get_object_or_404", "get_list_or_404"})


def _chain_last(node: ast.AST) -> str | None:
    """The last name of a chain other than a queryset step: Order.objects.filter(x=y) -> 'Order'."""
    while True:
        if isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Subscript):
            node = node.value
        elif isinstance(node, ast.Attribute):
            if node.attr not in QUERYSET_STEPS:
                return node.attr
            node = node.value
        elif isinstance(node, ast.Name):
            return node.id
        else:
            return None


def _string_text(node: ast.AST) -> str | None:
    """The text of a string constant or f-string (its holes written as {expression})."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(
            v.value if isinstance(v, ast.Constant) else "{" + _text(v.value) + "}"
            for v in node.values
            if isinstance(v, (ast.Constant, ast.FormattedValue))
        )
    return None


class _Scope:
    def __init__(self, name: str, order_class: bool) -> None:
        self.name = name
        self.order_names: set[str] = {"self"} if order_class else set()


class _StatusWrites(ast.NodeVisitor):
    def __init__(self, path: str) -> None:
        self.path = path
        self.found: list[str] = []
        self.scopes = [_Scope("<module>", False)]
        self.classes: list[str] = []

    # --- where we are -------------------------------------------------------------------------------
    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.classes.append(node.name)
        self.generic_visit(node)
        self.classes.pop()

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        if (self.path, node.name) == THE_WRITER:
            return
        order_class = bool(self.classes) and self.classes[-1].startswith("Order")
        scope = _Scope(node.name, order_class)
        arguments = node.args
        for arg in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]:
            if arg.annotation is not None and ORDER_WORD.search(_text(arg.annotation)):
                scope.order_names.add(arg.arg)
        scope.order_names |= self._order_bound_names(node, scope.order_names)
        self.scopes.append(scope)
        self.generic_visit(node)
        self.scopes.pop()

    visit_AsyncFunctionDef = visit_FunctionDef  # noqa: N815

    def _order_bound_names(self, function: ast.AST, known: set[str]) -> set[str]:
        """Names assigned or looped from something order-typed, to a fixed point (a = Order...; b = a)."""
        bound = set(known)
        pairs = []
        for node in ast.walk(function):
            if isinstance(node, ast.Assign):
                pairs += [(target, node.value) for target in node.targets]
            elif isinstance(node, (ast.AnnAssign, ast.NamedExpr)) and node.value is not None:
                pairs.append((node.target, node.value))
            elif isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
                pairs.append((node.target, node.iter))
            elif isinstance(node, ast.withitem) and node.optional_vars is not None:
                pairs.append((node.optional_vars, node.context_expr))
        for target, value in list(pairs):
            if isinstance(target, ast.Tuple) and isinstance(value, ast.Tuple) and len(target.elts) == len(value.elts):
                pairs += list(zip(target.elts, value.elts, strict=True))
        changed = True
        while changed:
            changed = False
            for target, value in pairs:
                # A tuple from one call (order, payment = f()) says nothing about each name: only a plain
                # name, or a tuple from a tuple element by element, is bound.
                if isinstance(target, ast.Name) and target.id not in bound and self._order_typed(value, bound):
                    bound.add(target.id)
                    changed = True
        return bound

    def _order_typed(self, node: ast.AST, names: set[str] | None = None) -> bool:
        """Whether this expression is an order or orders: the last name on its chain decides."""
        names = self.scopes[-1].order_names if names is None else names
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FETCHERS and node.args:
            node = node.args[0]  # get_object_or_404(Order, ...)
        last = _chain_last(node)
        return last is not None and (last in names or bool(ORDERISH_NAME.search(last)))

    def _flag(self, node: ast.AST, shape: str) -> None:
        self.found.append(f"{self.path}:{node.lineno} {self.scopes[-1].name} {shape}")

    # --- the shapes ---------------------------------------------------------------------------------
    def _assigned(self, node: ast.AST, targets: list[ast.AST], value: ast.AST | None) -> None:
        for target in targets:
            if isinstance(target, (ast.Tuple, ast.List)):
                values = value.elts if isinstance(value, (ast.Tuple, ast.List)) else [None] * len(target.elts)
                if len(values) != len(target.elts):
                    values = [value] * len(target.elts)
                for element, element_value in zip(target.elts, values, strict=True):
                    self._assigned(node, [element], element_value)
            elif isinstance(target, ast.Attribute) and target.attr == "status":
                value_is_order_status = value is not None and _is_order_status_value(value)
                if value_is_order_status or self._order_typed(target.value):
                    self._flag(node, "assigns .status")

    def visit_Assign(self, node: ast.Assign) -> None:
        self._assigned(node, node.targets, node.value)
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._assigned(node, [node.target], node.value)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._assigned(node, [node.target], node.value)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Name) and func.id == "setattr" and len(node.args) >= 3:
            owner, name, value = node.args[:3]
            named = isinstance(name, ast.Constant) and name.value == "status"
            if named and (_is_order_status_value(value) or self._order_typed(owner)):
                self._flag(node, "setattr status")
        if isinstance(func, ast.Attribute) and func.attr in ("update", "update_or_create"):
            written = dict(self._keywords(node.keywords))
            defaults = written.pop("defaults", None)
            if isinstance(defaults, ast.Dict):
                written.update(self._dict_items(defaults))
            if "status" in written and (
                _is_order_status_value(written["status"]) or self._order_typed(func.value) or self._in_order_class()
            ):
                self._flag(node, f"{func.attr}(status=...)")
        if isinstance(func, ast.Attribute) and func.attr == "bulk_update":
            fields = (
                node.args[1]
                if len(node.args) > 1
                else next((k.value for k in node.keywords if k.arg == "fields"), None)
            )
            named = fields is not None and any(
                isinstance(n, ast.Constant) and n.value == "status" for n in ast.walk(fields)
            )
            objects = node.args[0] if node.args else None
            order_typed = self._order_typed(func.value) or (objects is not None and self._order_typed(objects))
            if named and (order_typed or self._in_order_class()):
                self._flag(node, "bulk_update status")
        self.generic_visit(node)

    def _in_order_class(self) -> bool:
        return bool(self.classes) and self.classes[-1].startswith("Order")

    @staticmethod
    def _dict_items(node: ast.Dict) -> list[tuple[str, ast.AST]]:
        return [(k.value, v) for k, v in zip(node.keys, node.values, strict=True) if isinstance(k, ast.Constant)]

    def _keywords(self, keywords: list[ast.keyword]) -> list[tuple[str, ast.AST]]:
        items = []
        for keyword in keywords:
            if keyword.arg is not None:
                items.append((keyword.arg, keyword.value))
            elif isinstance(keyword.value, ast.Dict):  # update(**{"status": ...})
                items += self._dict_items(keyword.value)
        return items

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and RAW_ORDER_STATUS.search(node.value):
            self._flag(node, "raw SQL")

    def visit_JoinedStr(self, node: ast.JoinedStr) -> None:
        text = _string_text(node)
        if text is not None and RAW_ORDER_STATUS.search(text):
            self._flag(node, "raw SQL")
        # the f-string's constant parts are part of its text: not visited one by one


def status_writes_in(source: str, *, path: str) -> list[str]:
    """Every write of an order's status in this source, as 'path:line function shape' (see the rule above)."""
    visitor = _StatusWrites(path)
    visitor.visit(ast.parse(source, filename=path))
    return visitor.found


def status_writes() -> list[str]:
    assert {"orders", "catalog", "payments", "jewelry_site"} <= {app.name for app in APPS}
    found = []
    for path in [p for app in APPS for p in app.rglob("*.py")]:
        relative = path.relative_to(REPO).as_posix()
        if "/migrations/" in relative:
            continue
        found += status_writes_in(path.read_text(encoding="utf-8"), path=relative)
    return found


def test_only_order_transition_writes_an_orders_status():
    assert status_writes() == []


# --- Negative controls: each bypass shape, made up, must be found -----------------------------------
BYPASSES = {
    "differently named variable, OrderStatus value": """
def f(thing):
    thing.status = OrderStatus.PAID
    thing.save()
""",
    "order-typed name, value through a variable": """
def f(pk, new):
    locked = Order.objects.select_for_update().get(pk=pk)
    locked.status = new
""",
    "unpacked element by element": """
def f(pk, new):
    o, n = Order.objects.get(pk=pk), 1
    o.status = new
""",
    "looped from an order queryset": """
def f(new):
    for o in Order.objects.filter(status="paid"):
        o.status = new
""",
    "parameter annotated Order": """
def f(*, obj: Order, new: str):
    obj.status = new
""",
    "the payment's order": """
def f(payment):
    payment.order.status = "paid"
""",
    "written-out value on any name": """
def f(x):
    x.status = "cancelled"
""",
    "in a tuple assignment": """
def f(o, when):
    o.status, o.updated_at = OrderStatus.CANCELLED, when
""",
    "setattr": """
def f(thing):
    setattr(thing, "status", OrderStatus.SHIPPED)
""",
    "setattr on an order-typed name": """
def f(order, value):
    setattr(order, "status", value)
""",
    "queryset update": """
def f(queryset):
    queryset.update(status=OrderStatus.PAID)
""",
    "filter then update": """
def f(pks):
    Order.objects.filter(pk__in=pks).update(status=OrderStatus.CANCELLED)
""",
    "Order manager update, value through a variable": """
def f(new):
    Order.objects.all().update(status=new)
""",
    "update with a dict": """
def f(qs):
    qs.update(**{"status": OrderStatus.PAID})
""",
    "update in an Order admin action": """
class OrderAdmin:
    def mark(self, request, queryset):
        queryset.update(status=request.POST["to"])
""",
    "update_or_create defaults": """
def f(number):
    Order.objects.update_or_create(number=number, defaults={"status": "paid"})
""",
    "bulk_update": """
def f(orders):
    Order.objects.bulk_update(orders, ["status", "updated_at"])
""",
    "bulk_update fields keyword": """
def f(items):
    Order.objects.bulk_update(items, fields=["status"])
""",
    "raw SQL": """
def f(cursor, pk):
    cursor.execute("UPDATE orders_order SET status = 'paid' WHERE id = %s", [pk])
""",
    "raw SQL through the table name": """
def f(cursor, pk):
    cursor.execute(f"update {Order._meta.db_table} set status = %s where id = %s", ["paid", pk])
""",
    "a function that also queues the status e-mail": """
def order_reinstate(*, order, note):
    order.status = OrderStatus.PAID
    order.save(update_fields=["status"])
    order_status_mail_queue(order=order, event=None)
""",
    "module level": """
Order.objects.filter(pk=1).update(status="shipped")
""",
    "order_transition outside orders/workflow.py": """
def order_transition(*, order, to_status):
    order.status = to_status
""",
}


@pytest.mark.parametrize("source", BYPASSES.values(), ids=BYPASSES.keys())
def test_the_checker_finds_each_bypass(source):
    assert len(status_writes_in(source, path="orders/made_up.py")) == 1


# --- Positive controls: what is not an order's status stays allowed ---------------------------------
ALLOWED = {
    "the one writer": (
        "orders/workflow.py",
        "def order_transition(*, order, to_status):\n    order.status = to_status\n",
    ),
    "a card payment's Stripe status": (
        "payments/services.py",
        'def f(payment, obj):\n    payment.status = "succeeded"\n    payment.status = obj.get("status")\n',
    ),
    "a refund's status": (
        "payments/refunds.py",
        "def f(refund):\n    refund.status = RefundStatus.FAILED\n"
        "    Refund.objects.filter(pk=1).update(status=RefundStatus.SUCCEEDED)\n",
    ),
    "a payment found by its order": (
        "payments/services.py",
        'def f(order):\n    Payment.objects.filter(order=order).update(status="canceled")\n'
        '    order.payments.update(status="canceled")\n    order.payment.status = "canceled"\n',
    ),
    "a payment unpacked beside its order": (
        "payments/services.py",
        'def f(obj):\n    order, payment = _order_for_intent(obj)\n    payment.status = obj.get("status")\n',
    ),
    "creating an order": ("orders/services.py", "def f():\n    Order.objects.create(status=OrderStatus.PAID)\n"),
    "reading or filtering by status": (
        "orders/selectors.py",
        "def f(order):\n    if order.status == OrderStatus.PAID:\n"
        "        return Order.objects.filter(status=OrderStatus.PAID).order_by('pk')\n",
    ),
    "a response status": ("orders/views.py", "def f(request):\n    return render(request, 'x.html', status=400)\n"),
}


@pytest.mark.parametrize(("path", "source"), ALLOWED.values(), ids=ALLOWED.keys())
def test_the_checker_leaves_other_statuses_alone(path, source):
    assert status_writes_in(source, path=path) == []


def test_no_order_status_value_is_also_a_payment_or_refund_word():
    """The written-out-value rule would flag (or miss) payments' writes if the words overlapped."""
    assert ORDER_STATUS_VALUES.isdisjoint(STRIPE_INTENT_WORDS | set(RefundStatus.values))
