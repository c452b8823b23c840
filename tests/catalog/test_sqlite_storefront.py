"""`make run` serves the shop from SQLite: the storefront's own SQL (the UNION that reads categories and
collections together, the metal aggregate on cards, the icontains search) must run there too.

A subprocess with the dev settings on a fresh SQLite file and a few demo products; not covered: the
look of the pages (the browser tests run on Postgres)."""

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import json
import django
django.setup()
from django.core.management import call_command
from django.test import Client
from django.test.utils import setup_test_environment
setup_test_environment()
call_command("migrate", verbosity=0)
call_command("load_demo_catalog", limit=12, image_size=32, verbosity=0)
from catalog.models import Product
client = Client()
seen = {}
for url in ["/", "/shop/?q=saphire", "/shop/?q=engagement", "/shop/?metal=platinum", "/collection/solstice/",
            "/product/solstice-solitaire-ring/", "/shop/?q=tiara", "/sitemap.xml"]:
    response = client.get(url, HTTP_HOST="127.0.0.1")
    products = response.context.get("products") if response.context else None
    seen[url] = [response.status_code, [p.name for p in products] if products is not None else None]
ring = Product.objects.get(slug="solstice-solitaire-ring")
refused = client.post("/cart/add/", {"product": ring.pk, "metal": "platinum", "quantity": 1}, HTTP_HOST="127.0.0.1")
added = client.post("/cart/add/", {"product": ring.pk, "metal": "platinum", "size": "L", "quantity": 1},
                    HTTP_HOST="127.0.0.1")
seen["add"] = [refused.status_code, added.status_code]
print("RESULT " + json.dumps(seen))
"""


def test_storefront_pages_and_add_to_bag_on_sqlite(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update(
        DJANGO_SETTINGS_MODULE="jewelry_site.settings.dev",
        DJANGO_DATABASE_URL=f"sqlite:///{tmp_path / 'shop.sqlite3'}",
        DJANGO_MEDIA_ROOT=str(tmp_path / "media"),
        PYTHONPATH=str(REPO),
    )
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))
    seen = json.loads(line.removeprefix("RESULT "))
    assert all(status == 200 for url, (status, _names) in seen.items() if url != "add"), seen
    assert any("Sapphire" in name for name in seen["/shop/?q=saphire"][1])
    assert seen["/shop/?q=engagement"][1]
    assert "Solstice Solitaire Ring" in seen["/collection/solstice/"][1]
    assert seen["/shop/?q=tiara"][1] == []
    assert seen["add"] == [400, 302]  # no size: refused; with a size: added
