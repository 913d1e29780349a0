# The admin finds a customer by any part of a name, e-mail or VAT ID (docs/operations.md).

from django.db import migrations

import cpo_portal.kernel.search


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY cannot run in a transaction.
    atomic = False

    dependencies = [
        ("customers", "0011_notification_preferences"),
    ]

    operations = [
        cpo_portal.kernel.search.UseTrigrams(),
        *(
            cpo_portal.kernel.search.AddIndexConcurrentlyOnPostgres(
                model_name="customer",
                index=cpo_portal.kernel.search.UpperTrigramIndex(field=field, name=name),
            )
            for field, name in [
                ("name", "customer_name_trigram"),
                ("company_name", "customer_company_trigram"),
                ("email", "customer_email_trigram"),
                ("vat_id", "customer_vat_id_trigram"),
            ]
        ),
    ]
