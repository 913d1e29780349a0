# The admin finds documents by any part of the recipient's name (docs/operations.md).

from django.db import migrations

import cpo_portal.kernel.search


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY cannot run in a transaction.
    atomic = False

    dependencies = [
        ("invoicing", "0039_schedule_direct_debit_settlement"),
        ("customers", "0012_customer_search_trigram_indexes"),  # creates the pg_trgm extension
    ]

    operations = [
        cpo_portal.kernel.search.AddIndexConcurrentlyOnPostgres(
            model_name="document",
            index=cpo_portal.kernel.search.UpperTrigramIndex(
                field="recipient_name", name="document_name_trigram"
            ),
        ),
    ]
