"""Currencies: the exchange-rate table, amounts with up to 3 decimals (BHD, KWD), and the VAT in
the supply country's currency frozen on issued documents like their other contents; billing
managers get the exchange-rate screens.
"""

import importlib
from decimal import Decimal

import django.core.validators
import django.db.models.expressions
import django.db.models.functions.math
from django.db import migrations, models

import invoicing.documents.models

roles_0011 = importlib.import_module("invoicing.migrations.0011_integrator_roles")
tax_0013 = importlib.import_module("invoicing.migrations.0013_tax_rules_data")
COLUMNS = [*tax_0013.COLUMNS, "supply_currency_vat"]


def freeze_supply_currency_vat(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(tax_0013._guard(COLUMNS))


def thaw_supply_currency_vat(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(tax_0013._guard(tax_0013.COLUMNS))


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0007_token_uid_unique_per_operator"),
        ("invoicing", "0020_numbering_series_yearly_prefix"),
    ]

    operations = [
        migrations.CreateModel(
            name="ExchangeRate",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "currency",
                    models.CharField(
                        help_text="ISO 4217, e.g. CHF.", max_length=3, verbose_name="currency"
                    ),
                ),
                ("rate_date", models.DateField(verbose_name="rate date")),
                (
                    "rate",
                    models.DecimalField(
                        decimal_places=6,
                        help_text="Units of the currency for one euro, e.g. 0.9312 for CHF.",
                        max_digits=18,
                        validators=[django.core.validators.MinValueValidator(Decimal("0.000001"))],
                        verbose_name="rate per 1 EUR",
                    ),
                ),
                (
                    "source",
                    models.CharField(
                        default="ECB",
                        help_text="Printed on documents with the rate, e.g. ECB reference rate.",
                        max_length=100,
                        verbose_name="source",
                    ),
                ),
            ],
            options={
                "verbose_name": "exchange rate",
                "ordering": ["currency", "-rate_date"],
            },
        ),
        migrations.RemoveConstraint(
            model_name="document",
            name="document_gross_is_net_plus_vat",
        ),
        migrations.AddField(
            model_name="document",
            name="supply_currency_vat",
            field=models.JSONField(
                blank=True,
                default=list,
                help_text="When the document's currency differs from the supply country's: the VAT in that currency, with the exchange rate, its date and source, as printed (Art. 230).",
                verbose_name="VAT in the supply country's currency",
            ),
        ),
        migrations.AlterField(
            model_name="document",
            name="amount_paid",
            field=invoicing.documents.models.AmountField(
                decimal_places=3, default=Decimal("0"), max_digits=15, verbose_name="amount paid"
            ),
        ),
        migrations.AlterField(
            model_name="document",
            name="total_gross",
            field=invoicing.documents.models.AmountField(
                decimal_places=3, max_digits=15, verbose_name="total incl. VAT"
            ),
        ),
        migrations.AlterField(
            model_name="document",
            name="total_net",
            field=invoicing.documents.models.AmountField(
                decimal_places=3, max_digits=15, verbose_name="total excl. VAT"
            ),
        ),
        migrations.AlterField(
            model_name="document",
            name="total_vat",
            field=invoicing.documents.models.AmountField(
                decimal_places=3, max_digits=15, verbose_name="VAT"
            ),
        ),
        migrations.AlterField(
            model_name="documentline",
            name="net",
            field=invoicing.documents.models.AmountField(
                decimal_places=3, max_digits=15, verbose_name="net"
            ),
        ),
        migrations.AddConstraint(
            model_name="document",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    (
                        "total_gross",
                        django.db.models.functions.math.Round(
                            django.db.models.expressions.CombinedExpression(
                                models.F("total_net"), "+", models.F("total_vat")
                            ),
                            3,
                        ),
                    )
                ),
                name="document_gross_is_net_plus_vat",
            ),
        ),
        migrations.AddConstraint(
            model_name="exchangerate",
            constraint=models.UniqueConstraint(
                fields=("currency", "rate_date"), name="exchange_rate_unique_per_day"
            ),
        ),
        migrations.AddConstraint(
            model_name="exchangerate",
            constraint=models.CheckConstraint(
                condition=models.Q(("rate__gt", 0)), name="exchange_rate_positive"
            ),
        ),
        migrations.RunPython(roles_0011.create_roles, migrations.RunPython.noop),
        migrations.RunPython(freeze_supply_currency_vat, thaw_supply_currency_vat),
    ]
