"""Each token carries its customer's operator (for uniqueness per operator, next migration)."""

import django.db.models.deletion
from django.db import migrations, models


def copy_operator(apps, schema_editor):
    ChargingToken = apps.get_model("customers", "ChargingToken")
    Customer = apps.get_model("customers", "Customer")
    for customer_id, operator_id in (
        Customer.objects.filter(tokens__isnull=False).values_list("id", "operator_id").distinct()
    ):
        ChargingToken.objects.filter(customer_id=customer_id).update(operator_id=operator_id)


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0005_portal_accounts"),
        ("invoicing", "0011_integrator_roles"),
    ]

    operations = [
        migrations.AddField(
            model_name="chargingtoken",
            name="operator",
            field=models.ForeignKey(
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="invoicing.operator",
            ),
        ),
        migrations.RunPython(copy_operator, migrations.RunPython.noop),
    ]
