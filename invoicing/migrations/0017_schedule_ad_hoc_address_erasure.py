"""Register the daily erasure of ad-hoc e-mails from receipts, deliveries and session payloads."""

from django.db import migrations

TASK = "invoicing.erase_expired_ad_hoc_addresses"


def register(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute="35",
        hour="3",
        day_of_week="*",
        day_of_month="*",
        month_of_year="*",
        timezone="UTC",
    )
    PeriodicTask.objects.get_or_create(
        name="Erase ad-hoc e-mails from receipts and deliveries after 30 days",
        defaults={
            "task": TASK,
            "crontab": crontab,
            "description": "GDPR: ad-hoc drivers' e-mails are removed from receipts, e-mail "
            "deliveries and session payloads 30 days after collection.",
        },
    )


def unregister(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(task=TASK).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("invoicing", "0016_sessions_due_as_decided_today"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(register, unregister)]
