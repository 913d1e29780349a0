"""The Celery task that writes a queued export, and how a job is handed to it.

Registered with the workers through CELERY_IMPORTS (cpo_portal/settings.py); the task's name
is unchanged from when it lived in invoicing ("invoicing.run_export_job").
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import transaction
from kombu.exceptions import OperationalError as BrokerError

from cpo_portal.kernel.admin.export_jobs import job_queryset
from cpo_portal.kernel.exports import jobs
from cpo_portal.kernel.exports.models import ExportJob

logger = logging.getLogger(__name__)


def queue_export_job(job: ExportJob) -> None:
    """Hand the job to a worker once the job row is committed; a broker that is down fails it."""

    def send() -> None:
        try:
            run_export_job.delay(job.pk)
        except BrokerError as exc:
            logger.exception("Export job %s could not be queued", job.pk)
            jobs.fail_job(job=job, error=f"Not handed to the workers: {exc}")

    transaction.on_commit(send)


@shared_task(name="invoicing.run_export_job", acks_late=True)
def run_export_job(job_id: int) -> str | None:
    """Write a queued export to storage; a job already done or failed is left alone."""
    job = jobs.claim_job(job_id=job_id)
    if job is None:
        return None
    try:
        jobs.complete_job(job=job, queryset=job_queryset(job))
    except Exception as exc:
        # Whatever went wrong is shown on the job's page; the traceback goes to the logs.
        logger.exception("Export job %s failed", job_id)
        jobs.fail_job(job=job, error=str(exc) or exc.__class__.__name__)
    return job.status
