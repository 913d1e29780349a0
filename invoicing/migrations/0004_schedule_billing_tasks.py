"""Register the invoicing schedules with Celery Beat (visible and adjustable in the admin)."""

from django.db import migrations

from cpo_portal.beat_schedules import register_schedules

SCHEDULES = [
    (
        "Monthly billing run",
        "invoicing.run_monthly_billing",
        {"minute": "0", "hour": "3", "day_of_month": "1"},
        "Bills every monthly customer for the month that just closed.",
    ),
    (
        "Mark overdue documents",
        "invoicing.mark_overdue_documents",
        {"minute": "0", "hour": "4", "day_of_month": "*"},
        "Unpaid documents past their due date become overdue.",
    ),
    (
        "Issue pending per-session documents",
        "invoicing.issue_pending_session_documents",
        {"minute": "15", "hour": "*", "day_of_month": "*"},
        "Catches up per-session documents not issued right after the session.",
    ),
]


class Migration(migrations.Migration):
    dependencies = [
        ("invoicing", "0003_issued_documents_are_immutable"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [register_schedules(SCHEDULES)]
