"""Typo-tolerant search (issue #16): the pg_trgm extension, a trigram index on product names, and the
full-text index widened to the main metal and stone. Postgres only; SQLite (`make run`) has neither.

The full-text expression must stay identical to ``catalog.search.PRODUCT_SEARCH_DOCUMENT`` or the
planner will not use the index. pg_trgm is a trusted extension (Postgres 13+): the database owner
may create it, no superuser needed (Lightsail managed Postgres included).
"""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations

FTS_INDEX_SQL = (
    "CREATE INDEX IF NOT EXISTS catalog_product_search_gin ON catalog_product "
    "USING gin (to_tsvector('english'::regconfig, name || ' ' || description || ' ' || metal || ' ' || gemstone))"
)
OLD_FTS_INDEX_SQL = (
    "CREATE INDEX IF NOT EXISTS catalog_product_search_gin ON catalog_product "
    "USING gin (to_tsvector('english'::regconfig, name || ' ' || description))"
)
TRIGRAM_INDEX_SQL = (
    "CREATE INDEX IF NOT EXISTS catalog_product_name_trgm ON catalog_product USING gin (name gin_trgm_ops)"
)


def create_indexes(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS catalog_product_search_gin")
        schema_editor.execute(FTS_INDEX_SQL)
        schema_editor.execute(TRIGRAM_INDEX_SQL)


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS catalog_product_name_trgm")
        schema_editor.execute("DROP INDEX IF EXISTS catalog_product_search_gin")
        schema_editor.execute(OLD_FTS_INDEX_SQL)


class Migration(migrations.Migration):
    dependencies = [("catalog", "0004_product_listing_summary")]

    operations = [
        TrigramExtension(),  # a no-op on SQLite
        migrations.RunPython(create_indexes, drop_indexes),
    ]
