"""What every drill shares: the prepared database, page paths, and a verdict with what was seen."""

from dataclasses import dataclass, field
from pathlib import Path

from bench.harness import log


@dataclass
class Context:
    work: Path
    pages: dict[str, str]
    variants: list[int]
    pg_dsn: str


@dataclass
class Verdict:
    name: str
    passed: bool = True
    seen: list[str] = field(default_factory=list)
    figures: dict = field(default_factory=dict)

    def note(self, line: str) -> None:
        self.seen.append(line)
        log(f"  {self.name}: {line}")

    def check(self, ok: bool, line: str) -> bool:
        self.note(f"{'ok  ' if ok else 'FAIL'} {line}")
        if not ok:
            self.passed = False
        return ok


def order_row_counts() -> dict[str, int]:
    """Rows in every orders table (order, lines, events...), whatever the models are called."""
    from django.apps import apps

    models = apps.get_app_config("orders").get_models()
    return {model.__name__: model.objects.count() for model in models if not model._meta.proxy}


def variant_stock(variant_id: int) -> int:
    from catalog.models import ProductVariant

    return ProductVariant.objects.values_list("stock", flat=True).get(pk=variant_id)


def staff_cookie() -> tuple[str, str]:
    """A signed-in staff session (name, value) made the way Django's test client does it."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    from bench.catalog_data import STAFF_USERNAME, staff_ensure

    staff_ensure()
    client = Client()
    client.force_login(get_user_model().objects.get(username=STAFF_USERNAME))
    return settings.SESSION_COOKIE_NAME, client.cookies[settings.SESSION_COOKIE_NAME].value
