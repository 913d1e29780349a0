"""Register the daily settlement of direct debits not returned within the settlement period."""

from django.db import migrations

from cpo_portal.beat_schedules import register_schedules

SCHEDULES = [
    (
        "Settle direct debits",
        "invoicing.settle_direct_debits",
        {"minute": "30", "hour": "5", "day_of_month": "*"},
        "Direct debits not returned within SEPA_SETTLEMENT_DAYS after collection count as paid.",
    ),
]


class Migration(migrations.Migration):
    dependencies = [
        ("invoicing", "0038_sepa_collection_runs"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [register_schedules(SCHEDULES)]
