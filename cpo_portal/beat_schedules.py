"""Data migrations register Celery Beat schedules with one operation (adjustable in the admin)."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import migrations

# (name, task, crontab fields other than "*", description)
Schedule = tuple[str, str, dict[str, str], str]


def register_schedules(
    schedules: Sequence[Schedule], *, time_zone: str = "Europe/Berlin"
) -> migrations.RunPython:
    """A RunPython that creates each periodic task once, and removes them when unapplied."""

    def register(apps, schema_editor):
        CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
        PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
        for name, task, when, description in schedules:
            fields = {"day_of_month": "*", "day_of_week": "*", "month_of_year": "*", **when}
            crontab, _ = CrontabSchedule.objects.get_or_create(timezone=time_zone, **fields)
            PeriodicTask.objects.get_or_create(
                name=name, defaults={"task": task, "crontab": crontab, "description": description}
            )

    def unregister(apps, schema_editor):
        PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
        PeriodicTask.objects.filter(task__in=[task for _n, task, _w, _d in schedules]).delete()

    return migrations.RunPython(register, unregister)
