import django.db.models.deletion
from django.db import migrations, models


def enable_payment_guard(apps, schema_editor):
    """Payments are permanent again once each is linked to its transaction."""
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "ALTER TABLE invoicing_payment ENABLE TRIGGER invoicing_payment_guard"
        )


def disable_payment_guard(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "ALTER TABLE invoicing_payment DISABLE TRIGGER invoicing_payment_guard"
        )


class Migration(migrations.Migration):
    dependencies = [("invoicing", "0026_payments_into_ledger")]

    operations = [
        migrations.RunPython(enable_payment_guard, disable_payment_guard),
        migrations.AlterField(
            model_name="payment",
            name="transaction",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT,
                related_name="allocations",
                to="invoicing.paymenttransaction",
                verbose_name="transaction",
            ),
        ),
    ]
