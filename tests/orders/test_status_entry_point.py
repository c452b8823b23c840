"""Every order status change goes through orders.workflow.order_transition, which records the event
and queues the shopper's e-mail. This test reads the shop's code and fails on any other write path
(a function that sets a status itself must call order_status_mail_queue, as order_transition does)."""

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# The shop's own apps (each has an apps.py) and the project package; never venvs, tests or tools.
APPS = sorted(p.parent for p in REPO.glob("*/apps.py") if p.parent.name != "mailqueue")


def status_writes() -> list[str]:
    """`<something order-ish>.status = ...` and `Order....update(status=...)`, outside order_transition."""
    found = []
    assert {"orders", "catalog", "jewelry_site"} <= {app.name for app in APPS}
    for path in [p for app in APPS for p in app.rglob("*.py")]:
        parts = path.relative_to(REPO).parts
        if "migrations" in parts:
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        for function in [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]:
            if function.name == "order_transition" and path.name == "workflow.py" and parts[0] == "orders":
                continue
            calls = {ast.unparse(n.func) for n in ast.walk(function) if isinstance(n, ast.Call)}
            if "order_status_mail_queue" in calls:
                continue
            for node in ast.walk(function):
                targets = node.targets if isinstance(node, ast.Assign) else []
                for target in targets:
                    if isinstance(target, ast.Attribute) and target.attr == "status":
                        owner = ast.unparse(target.value).lower()
                        if "order" in owner or owner == "locked":
                            found.append(f"{path.relative_to(REPO)}:{node.lineno} {function.name}")
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "update"
                    and any(k.arg == "status" for k in node.keywords)
                    and "Order" in ast.unparse(node.func.value)
                ):
                    found.append(f"{path.relative_to(REPO)}:{node.lineno} {function.name}")
    return found


def test_only_order_transition_writes_an_orders_status():
    assert status_writes() == []
