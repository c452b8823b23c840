"""The shop's first content pages (pages.content); an existing page of the same slug is left alone."""

from django.db import migrations


def seed(apps, schema_editor):
    from pages.content import PAGES

    Page = apps.get_model("pages", "Page")
    for slug, title, summary, body in PAGES:
        Page.objects.using(schema_editor.connection.alias).get_or_create(
            slug=slug, defaults={"title": title, "summary": summary, "body": body}
        )


def unseed(apps, schema_editor):
    from pages.content import PAGES

    Page = apps.get_model("pages", "Page")
    Page.objects.using(schema_editor.connection.alias).filter(slug__in=[p[0] for p in PAGES]).delete()


class Migration(migrations.Migration):
    dependencies = [("pages", "0001_initial")]

    operations = [migrations.RunPython(seed, unseed)]
