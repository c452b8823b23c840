"""Issue 15: the provider's staff group was created with every catalogue, order and cart permission.

Narrow an existing one to the two staff roles together (catalogue editors + order handlers, see
accounts.services.STAFF_ROLES, copied here as it was when this migration was written). Only narrows:
permissions a superuser adds later are theirs to give.
"""

from django.conf import settings
from django.db import migrations
from django.db.models import Q

CATALOGUE_MODELS = ("category", "collection", "product", "productvariant", "productimage")
ALLOWED = {("catalog", f"{verb}_{model}") for model in CATALOGUE_MODELS for verb in ("add", "change", "delete", "view")}
ALLOWED |= {
    ("catalog", "view_stockadjustment"),
    ("orders", "view_lowstockvariant"),
    ("orders", "view_order"),
    ("orders", "change_order"),
    ("orders", "export_order"),
    ("orders", "view_orderline"),
    ("orders", "view_orderevent"),
}


def narrow(apps, schema_editor):
    Group = apps.get_model("auth", "Group")  # noqa: N806
    group = Group.objects.filter(name=getattr(settings, "OIDC_STAFF_GROUP", "staff")).first()
    if group is None:
        return
    keep = Q(pk__in=[])
    for app_label, codename in ALLOWED:
        keep |= Q(content_type__app_label=app_label, codename=codename)
    group.permissions.remove(*group.permissions.exclude(keep))


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_user_password_account_email_unique"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(narrow, migrations.RunPython.noop)]
