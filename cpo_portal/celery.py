"""The Celery application: workers run tasks, Beat runs the schedules stored in the database."""

import gc
import os

from celery import Celery
from celery.signals import worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cpo_portal.settings")

app = Celery("cpo_portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def freeze_start_up_objects(**kwargs):
    """A pool process's full collections skip what the worker loaded before it forked."""
    # The modules, models and tasks loaded at start-up live as long as the process: walking
    # them on every full collection cost long billing chunks noticeable pauses.
    gc.freeze()
