"""The Celery application: workers run tasks, Beat runs the schedules stored in the database."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cpo_portal.settings")

app = Celery("cpo_portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
