"""Default revenue accounts for DATEV (SKR 03 and SKR 04); roles get the DATEV models.

Automatic accounts (Automatikkonten) know their VAT: DATEV splits the gross amount into
revenue and VAT itself, so these defaults need no BU key. They are starting points for the
tax adviser to check (docs/datev.md), editable under Invoicing → Revenue accounts.
"""

import importlib
from decimal import Decimal

from django.db import migrations

roles_0011 = importlib.import_module("invoicing.migrations.0011_integrator_roles")

# (country, treatment, rate or None for any, SKR 03, SKR 04, DATEV's name of the account)
DEFAULTS = [
    ("DE", "charge", Decimal("19.00"), 8400, 4400, "Erlöse 19 % USt"),
    ("DE", "charge", Decimal("7.00"), 8300, 4300, "Erlöse 7 % USt"),
    (
        "DE",
        "reverse_charge",
        Decimal("0.00"),
        8337,
        4337,
        "Erlöse aus Leistungen, für die der Leistungsempfänger die Steuer nach § 13b UStG schuldet",
    ),
    (
        "EU",
        "reverse_charge",
        Decimal("0.00"),
        8336,
        4336,
        "Erlöse aus im anderen EU-Land steuerpflichtigen sonstigen Leistungen, für die der "
        "Leistungsempfänger die Umsatzsteuer schuldet",
    ),
    (
        "EU",
        "charge",
        None,
        8320,
        4320,
        "Erlöse aus im anderen EU-Land steuerpflichtigen Lieferungen (with EU-Land and "
        "EU-Steuersatz)",
    ),
]


def load_defaults(apps, schema_editor):
    RevenueAccount = apps.get_model("invoicing", "RevenueAccount")
    for country, treatment, rate, skr03, skr04, description in DEFAULTS:
        for chart, account in (("03", skr03), ("04", skr04)):
            RevenueAccount.objects.get_or_create(
                chart=chart,
                country=country,
                category="",
                treatment=treatment,
                rate=rate,
                defaults={"account": account, "description": description},
            )


class Migration(migrations.Migration):
    dependencies = [("invoicing", "0014_datev_settings_accounts_debtors")]

    operations = [
        migrations.RunPython(load_defaults, migrations.RunPython.noop),
        # Billing managers get every business permission again, now with the DATEV models.
        migrations.RunPython(roles_0011.create_roles, migrations.RunPython.noop),
    ]
