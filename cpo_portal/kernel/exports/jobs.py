"""Exports written by a worker: a job is claimed, written to storage with its progress, and
completed or failed (the Celery task is tasks.py, the admin pages cpo_portal/kernel/admin/)."""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Iterable

from django.core.files import File
from django.db import DatabaseError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from cpo_portal.kernel.exports.models import ExportJob
from cpo_portal.kernel.exports.registry import get_export
from cpo_portal.kernel.exports.writers import WRITERS, check_format, filename_for

logger = logging.getLogger(__name__)

# A job stores the progress the writers report at most this often.
PROGRESS_EVERY_SECONDS = 2.0


def claim_job(*, job_id: int) -> ExportJob | None:
    """Mark a queued job running; None when it is done or failed already (a task ran twice)."""
    # A job left running by a worker that died is taken again: the file is rewritten whole.
    with transaction.atomic():
        job = (
            ExportJob.objects.select_for_update()
            .filter(pk=job_id, status__in=[ExportJob.Status.QUEUED, ExportJob.Status.RUNNING])
            .first()
        )
        if job is None:
            return None
        job.status = ExportJob.Status.RUNNING
        job.started_at = timezone.now()
        job.rows_written = 0
        job.error = ""
        job.save(update_fields=["status", "started_at", "rows_written", "error"])
    return job


def complete_job(*, job: ExportJob, queryset: QuerySet) -> ExportJob:
    """Write the job's export to a temporary file, store it, and mark the job done."""
    export = get_export(job.what)
    writer = WRITERS[check_format(job.format)]
    total = export.row_queryset(queryset).count()
    ExportJob.objects.filter(pk=job.pk).update(rows_total=total)
    last_report = [time.monotonic()]

    def progress(rows: int) -> None:
        # Rows written so far, for the admin page; at most every few seconds (a write each).
        now = time.monotonic()
        if now - last_report[0] >= PROGRESS_EVERY_SECONDS:
            store_progress(job_id=job.pk, rows=rows)
            last_report[0] = now

    with tempfile.TemporaryFile() as handle:
        rows = writer(export, queryset, handle, progress=progress)
        handle.seek(0)
        job.file.save(filename_for(job.what, job.format), File(handle), save=False)
    job.status = ExportJob.Status.DONE
    job.rows_total = total
    job.rows_written = rows
    job.finished_at = timezone.now()
    job.save(update_fields=["file", "status", "rows_total", "rows_written", "finished_at"])
    logger.info("Export %s written: %d rows to %s", job, rows, job.file.name)
    return job


def store_progress(*, job_id: int, rows: int) -> None:
    """Record rows written so far; a refused write only delays the progress shown."""
    # E.g. SQLite's "database is locked" while a web request writes: the job goes on and the
    # final count is stored when it is done.
    try:
        ExportJob.objects.filter(pk=job_id).update(rows_written=rows)
    except DatabaseError as exc:
        logger.warning("Progress of export job %s not stored: %s", job_id, exc)


def fail_job(*, job: ExportJob, error: str) -> ExportJob:
    """Record why a job failed; its page shows the reason."""
    job.status = ExportJob.Status.FAILED
    job.error = error
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "error", "finished_at"])
    return job


def delete_job_files(jobs: Iterable[ExportJob]) -> None:
    """Remove the stored files of jobs being deleted (exports hold personal data)."""
    for job in jobs:
        if job.file:
            job.file.delete(save=False)
