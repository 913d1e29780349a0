"""Token UIDs are unique per operator and kind (they were unique per kind across all operators).

Its own migration: PostgreSQL refuses ALTER TABLE in the transaction that filled the column.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("customers", "0006_token_operator")]

    operations = [
        migrations.AlterField(
            model_name="chargingtoken",
            name="operator",
            field=models.ForeignKey(
                editable=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="invoicing.operator",
            ),
        ),
        migrations.RemoveConstraint(
            model_name="chargingtoken",
            name="token_uid_unique_per_kind",
        ),
        migrations.AddConstraint(
            model_name="chargingtoken",
            constraint=models.UniqueConstraint(
                fields=("operator", "kind", "uid"),
                name="token_uid_unique_per_operator_and_kind",
                violation_error_message="A token of this kind with this UID exists.",
            ),
        ),
    ]
