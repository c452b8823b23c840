"""Full-text search index for products, on Postgres only (SQLite, used by `make run`, has no GIN).

The expression must stay identical to ``catalog.search.PRODUCT_SEARCH_DOCUMENT`` or the
planner will not use the index.
"""

from django.db import migrations

INDEX_SQL = (
    "CREATE INDEX IF NOT EXISTS catalog_product_search_gin ON catalog_product "
    "USING gin (to_tsvector('english'::regconfig, name || ' ' || description))"
)


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(INDEX_SQL)


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS catalog_product_search_gin")


class Migration(migrations.Migration):
    dependencies = [("catalog", "0001_initial")]

    operations = [migrations.RunPython(create_index, drop_index)]
