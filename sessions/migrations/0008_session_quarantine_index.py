# The staff's list of quarantined sessions, built without blocking writes to the sessions table.

from django.db import migrations, models

import cpo_portal.kernel.search


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY cannot run in a transaction.
    atomic = False

    dependencies = [
        ("charging", "0007_signed_meter_data"),
    ]

    operations = [
        cpo_portal.kernel.search.AddIndexConcurrentlyOnPostgres(
            model_name="chargingsession",
            index=models.Index(
                condition=models.Q(("quarantine", "open")),
                fields=["-started_at"],
                name="session_quarantine_open",
            ),
        ),
    ]
