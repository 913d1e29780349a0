"""gunicorn workers and Celery pool processes keep start-up objects out of full collections."""

import gc
import runpy
from pathlib import Path

from celery.signals import worker_process_init
from django.conf import settings


def _frozen_after(start) -> int:
    gc.unfreeze()
    try:
        start()
        return gc.get_freeze_count()
    finally:
        gc.unfreeze()


def test_a_gunicorn_worker_freezes_what_start_up_loaded():
    config = runpy.run_path(str(Path(settings.BASE_DIR) / "gunicorn.conf.py"))
    assert _frozen_after(lambda: config["post_worker_init"](None)) > 10_000


def test_a_celery_pool_process_freezes_what_the_worker_loaded_before_forking():
    assert _frozen_after(lambda: worker_process_init.send(sender=None)) > 10_000
