"""Register the periodic sweep that matches terminal payments still open (Celery Beat)."""

from django.db import migrations

from cpo_portal.beat_schedules import register_schedules

SCHEDULES = [
    (
        "Match open terminal payments",
        "invoicing.sweep_terminal_payments",
        {"minute": "*/10", "hour": "*", "day_of_month": "*"},
        "Matches card-terminal payments whose session arrived late or was priced later.",
    ),
]


class Migration(migrations.Migration):
    dependencies = [
        ("invoicing", "0034_terminals"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [register_schedules(SCHEDULES)]
