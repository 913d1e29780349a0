"""Back-office roles for the integrator API (docs/exports.md, docs/api.md).

Billing managers manage integrators, API keys and webhook endpoints; support sees webhook
deliveries and sends failed ones again; accountants see none of it (keys and signing secrets are
not accounting data). Running it again gives each group exactly these permissions.
"""

import importlib

from django.db import migrations

roles_0008 = importlib.import_module("invoicing.migrations.0008_back_office_roles")

INTEGRATOR_MODELS = (
    "integrator",
    "apikey",
    "idempotencyrecord",
    "webhookendpoint",
    "webhookevent",
    "webhookdelivery",
    "webhookattempt",
)
SUPPORT = [
    ("invoicing", "view_integrator"),
    ("invoicing", "view_webhookdelivery"),
    ("invoicing", "view_webhookattempt"),
    ("invoicing", "change_webhookdelivery"),
]


def create_roles(apps, schema_editor):
    # The roles of 0008 first: the billing manager gets every business permission, now
    # including the integrator models created by 0009.
    roles_0008.create_roles(apps, schema_editor)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    integrator_permissions = Permission.objects.filter(
        content_type__app_label="invoicing", content_type__model__in=INTEGRATOR_MODELS
    )
    Group.objects.get(name="Accountant").permissions.remove(*integrator_permissions)
    by_key = roles_0008.permissions_by_key(Permission)
    Group.objects.get(name="Support").permissions.add(*(by_key[key] for key in SUPPORT))


class Migration(migrations.Migration):
    dependencies = [("invoicing", "0010_admin_list_indexes")]

    # Reversing keeps the groups as they are: people may rely on them since.
    operations = [migrations.RunPython(create_roles, migrations.RunPython.noop)]
