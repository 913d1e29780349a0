"""Back-office roles as groups: billing manager, accountant and support (docs/exports.md).

Running it again (or after new permissions appear) gives each group exactly these permissions.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

# The apps whose data the back-office works with; auth, admin and sessions stay superuser-only.
BUSINESS_APPS = ("customers", "charging", "invoicing", "django_celery_beat")
EXPORT = ("invoicing", "export_data")
# Customers and tokens (change), documents as the admin shows them (view), and re-sending the
# PDF e-mail, which is adding an e-mail delivery.
SUPPORT = [
    ("customers", "view_customer"),
    ("customers", "change_customer"),
    ("customers", "view_chargingtoken"),
    ("customers", "change_chargingtoken"),
    ("invoicing", "view_document"),
    ("invoicing", "view_documentline"),
    ("invoicing", "view_billedsession"),
    ("invoicing", "view_payment"),
    ("invoicing", "view_recipientcorrection"),
    ("invoicing", "view_documentfile"),
    ("invoicing", "view_emaildelivery"),
    ("invoicing", "add_emaildelivery"),
]


def permissions_by_key(Permission):
    permissions = Permission.objects.select_related("content_type")
    return {(p.content_type.app_label, p.codename): p for p in permissions}


def create_roles(apps, schema_editor):
    # Permissions are normally created after all migrations (post_migrate); create them now so
    # that the groups get them on a fresh database too.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    by_key = permissions_by_key(Permission)
    business = {key: p for key, p in by_key.items() if key[0] in BUSINESS_APPS}
    roles = {
        "Billing manager": list(business.values()),
        "Accountant": [
            *(p for (_app, codename), p in business.items() if codename.startswith("view_")),
            by_key[EXPORT],
        ],
        # A permission another app has not created yet is skipped rather than failing deploys.
        "Support": [by_key[key] for key in SUPPORT if key in by_key],
    }
    for name, permissions in roles.items():
        group, _created = Group.objects.get_or_create(name=name)
        group.permissions.set(permissions)


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("customers", "0004_schedule_subscription_tasks"),
        ("charging", "0002_alter_chargingsession_status_and_more"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
        ("invoicing", "0007_exportjob"),
    ]

    # Reversing keeps the groups: people may have been put in them since.
    operations = [migrations.RunPython(create_roles, migrations.RunPython.noop)]
