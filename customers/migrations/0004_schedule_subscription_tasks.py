"""Register the daily subscription jobs with Celery Beat (visible and adjustable in the admin)."""

from django.db import migrations

from cpo_portal.beat_schedules import register_schedules

SCHEDULES = [
    (
        "Renew subscriptions",
        "invoicing.renew_subscriptions",
        {"minute": "0", "hour": "2"},
        "Invoices every subscription period that has ended; catches up missed days.",
    ),
    (
        "Check subscription payments",
        "invoicing.check_subscription_payments",
        {"minute": "30", "hour": "4"},
        "Reminders before the due date, overdue notices, past due and suspension.",
    ),
]


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0003_plans_and_subscriptions"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [register_schedules(SCHEDULES)]
