"""House rule (issue 13): the currency symbol is written in one place, ``catalog.money.format_money``
(and the ``money`` filter over it), never by hand in code, templates or scripts."""

from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parents[1]
SOURCES = (
    "accounts",
    "cart",
    "catalog",
    "orders",
    "payments",
    "mailqueue",
    "pages",
    "restock",
    "wishlist",
    "jewelry_site",
    "templates",
    "static",
)
ALLOWED = {
    "catalog/money.py",  # the one place
    "jewelry_site/settings/base.py",  # SHOP_CURRENCY_SYMBOL's default
    # Seed text of staff-editable content pages (Markdown in the database, edited in the admin afterwards).
    "pages/content.py",
}


def test_the_currency_symbol_is_written_only_by_format_money():
    symbol = settings.SHOP_CURRENCY_SYMBOL
    offenders = []
    for top in SOURCES:
        for path in (ROOT / top).rglob("*"):
            if path.suffix not in {".py", ".html", ".txt", ".js"} or "migrations" in path.parts:
                continue
            relative = str(path.relative_to(ROOT))
            if relative in ALLOWED:
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if symbol in line:
                    offenders.append(f"{relative}:{number}")
    assert offenders == []
