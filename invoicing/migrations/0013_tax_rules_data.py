"""Today's VAT rates for the EU-27, CH, NO and GB; billing managers get the tax screens; the
database freezes the printed supplier VAT ID of issued documents like their other contents.

Charging is taxed where the charge point is (docs/invoicing.md, "Tax rules"). Every country
gets a rule per category (electricity, services, subscription fee) at its standard rate, which is
what public charging is taxed at everywhere listed here (household electricity rates, such as
GB's 5 %, do not apply to public charge points). In the EU a business customer with a valid VAT
ID of another country gets a reverse-charge invoice; the treatments are editable per rule.
"""

import importlib
from datetime import date
from decimal import Decimal

from django.db import migrations

roles_0011 = importlib.import_module("invoicing.migrations.0011_integrator_roles")
immutable_0003 = importlib.import_module("invoicing.migrations.0003_issued_documents_are_immutable")

REVERSE_CHARGE_TEXT = (
    "Reverse charge: VAT to be accounted for by the recipient (Art. 194/196 Directive 2006/112/EC)."
)
# country: [(in force from, standard rate)], oldest first.
EU_RATES = {
    "AT": [(date(2016, 1, 1), "20")],
    "BE": [(date(1996, 1, 1), "21")],
    "BG": [(date(2007, 1, 1), "20")],
    "CY": [(date(2014, 1, 13), "19")],
    "CZ": [(date(2013, 1, 1), "21")],
    "DE": [(date(2007, 1, 1), "19"), (date(2020, 7, 1), "16"), (date(2021, 1, 1), "19")],
    "DK": [(date(1992, 1, 1), "25")],
    "EE": [(date(2024, 1, 1), "22"), (date(2025, 7, 1), "24")],
    "ES": [(date(2012, 9, 1), "21")],
    "FI": [(date(2013, 1, 1), "24"), (date(2024, 9, 1), "25.5")],
    "FR": [(date(2014, 1, 1), "20")],
    "GR": [(date(2016, 6, 1), "24")],
    "HR": [(date(2013, 1, 1), "25")],
    "HU": [(date(2012, 1, 1), "27")],
    "IE": [(date(2021, 3, 1), "23")],
    "IT": [(date(2013, 10, 1), "22")],
    "LT": [(date(2009, 9, 1), "21")],
    "LU": [(date(2024, 1, 1), "17")],
    "LV": [(date(2012, 7, 1), "21")],
    "MT": [(date(2004, 1, 1), "18")],
    "NL": [(date(2012, 10, 1), "21")],
    "PL": [(date(2011, 1, 1), "23")],
    "PT": [(date(2011, 1, 1), "23")],
    "RO": [(date(2017, 1, 1), "19"), (date(2025, 8, 1), "21")],
    "SE": [(date(1990, 7, 1), "25")],
    "SI": [(date(2013, 7, 1), "22")],
    "SK": [(date(2011, 1, 1), "20"), (date(2025, 1, 1), "23")],
}
OTHER_RATES = {
    "CH": [(date(2018, 1, 1), "7.7"), (date(2024, 1, 1), "8.1")],
    "GB": [(date(2011, 1, 4), "20")],
    "NO": [(date(2005, 1, 1), "25")],
}
CATEGORIES = ("electricity", "services", "subscription")

COLUMNS = [*immutable_0003.FROZEN_DOCUMENT_COLUMNS, "supplier_vat_id"]


def _guard(columns):
    row = "(" + ", ".join(f"{{p}}.{c}" for c in columns) + ")"
    sql = immutable_0003.CREATE_TEMPLATE.split("CREATE TRIGGER")[0].replace(
        "CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"
    )
    return sql.replace("NEW_ROW", row.format(p="NEW")).replace("OLD_ROW", row.format(p="OLD"))


def load_rates(apps, schema_editor):
    TaxRule = apps.get_model("invoicing", "TaxRule")
    rules = []
    for table, eu in ((EU_RATES, True), (OTHER_RATES, False)):
        for country, changes in table.items():
            for valid_from, rate in changes:
                for category in CATEGORIES:
                    rules.append(
                        TaxRule(
                            country=country,
                            category=category,
                            valid_from=valid_from,
                            rate=Decimal(rate),
                            business_foreign="reverse_charge" if eu else "charge",
                            business_foreign_text=REVERSE_CHARGE_TEXT if eu else "",
                        )
                    )
    TaxRule.objects.bulk_create(rules, ignore_conflicts=True)


def freeze_supplier_vat_id(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(_guard(COLUMNS))


def thaw_supplier_vat_id(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(_guard(immutable_0003.FROZEN_DOCUMENT_COLUMNS))


class Migration(migrations.Migration):
    dependencies = [("invoicing", "0012_tax_rules")]

    operations = [
        migrations.RunPython(load_rates, migrations.RunPython.noop),
        # Billing managers get every business permission again, now with the tax models.
        migrations.RunPython(roles_0011.create_roles, migrations.RunPython.noop),
        migrations.RunPython(freeze_supplier_vat_id, thaw_supplier_vat_id),
    ]
