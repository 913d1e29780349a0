# The card-terminal payments' admin list reads its first page by an index (docs/operations.md).

from django.db import migrations, models

import cpo_portal.kernel.search


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY cannot run in a transaction.
    atomic = False

    dependencies = [
        ("invoicing", "0044_collection_runs_in_the_background"),
    ]

    operations = [
        cpo_portal.kernel.search.AddIndexConcurrentlyOnPostgres(
            model_name="terminaltransaction",
            index=models.Index(fields=["-terminal_time", "-id"], name="terminal_tx_list_order"),
        ),
    ]
