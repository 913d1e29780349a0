"""Held per-session documents (docs/einvoices.md): listed for staff with the failing rules.

Billing managers get every permission on them (issuing again needs change_billingrun, which
they have); accountants and support see them.
"""

import django.db.models.deletion
from django.contrib.auth.management import create_permissions
from django.db import migrations, models


def grant_roles(apps, schema_editor):
    # Permissions are normally created after all migrations; the groups need them now.
    app_config = apps.get_app_config("invoicing")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    held = Permission.objects.filter(
        content_type__app_label="invoicing", content_type__model="heldsession"
    )
    for name, permissions in (
        ("Billing manager", held),
        ("Accountant", held.filter(codename="view_heldsession")),
        ("Support", held.filter(codename="view_heldsession")),
    ):
        group = Group.objects.filter(name=name).first()
        if group is not None:
            group.permissions.add(*permissions)


class Migration(migrations.Migration):
    dependencies = [
        ("charging", "0005_session_issuing_due"),
        ("customers", "0008_customer_einvoice_details"),
        ("invoicing", "0029_issued_einvoices_are_immutable"),
    ]

    operations = [
        migrations.CreateModel(
            name="HeldSession",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("message", models.TextField(verbose_name="why it is held")),
                (
                    "failed_rules",
                    models.JSONField(
                        blank=True,
                        default=list,
                        help_text="The e-invoice rules (XSD, BR-…) the document broke, if any.",
                        verbose_name="failed rules",
                    ),
                ),
                ("held_at", models.DateTimeField(auto_now=True, verbose_name="last tried")),
                (
                    "customer",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="held_sessions",
                        to="customers.customer",
                    ),
                ),
                (
                    "session",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="held_document",
                        to="charging.chargingsession",
                    ),
                ),
            ],
            options={
                "verbose_name": "held per-session document",
                "verbose_name_plural": "held per-session documents",
                "ordering": ["-held_at", "-id"],
            },
        ),
        migrations.RunPython(grant_roles, migrations.RunPython.noop),
    ]
