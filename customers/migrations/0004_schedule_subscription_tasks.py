"""Register the daily subscription jobs with Celery Beat (visible and adjustable in the admin)."""

from django.db import migrations

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


def register(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, task, when, description in SCHEDULES:
        crontab, _ = CrontabSchedule.objects.get_or_create(
            day_of_month="*",
            day_of_week="*",
            month_of_year="*",
            timezone="Europe/Berlin",
            **when,
        )
        PeriodicTask.objects.get_or_create(
            name=name, defaults={"task": task, "crontab": crontab, "description": description}
        )


def unregister(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(task__in=[task for _n, task, _w, _d in SCHEDULES]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0003_plans_and_subscriptions"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(register, unregister)]
