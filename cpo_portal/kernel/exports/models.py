"""Export jobs: large exports written by a worker and offered for download."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


def export_file_path(instance: ExportJob, filename: str) -> str:
    """Where a finished export is stored: by month of the request, prefixed with the job id."""
    return f"exports/{instance.created_at:%Y/%m}/{instance.pk}-{filename}"


class ExportJob(models.Model):
    """An export too large to stream in the request: a worker writes it to storage."""

    class What(models.TextChoices):
        INVOICES = "invoices", _("Invoices")
        LINES = "lines", _("Invoice lines")
        SESSIONS = "sessions", _("Sessions with breakdown")
        CUSTOMERS = "customers", _("Customers")
        PAYMENTS = "payments", _("Payments")
        OPEN_ITEMS = "open_items", _("Open items")

    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        XLSX = "xlsx", "XLSX"

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        verbose_name=_("requested by"),
    )
    what = models.CharField(_("export"), max_length=12, choices=What.choices)
    format = models.CharField(_("format"), max_length=4, choices=Format.choices)
    filters = models.JSONField(
        _("filters"),
        default=dict,
        blank=True,
        help_text=_("The admin list's filters and the selected rows the export was asked for."),
    )
    status = models.CharField(
        _("status"), max_length=8, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    rows_total = models.PositiveIntegerField(_("rows expected"), null=True, blank=True)
    rows_written = models.PositiveIntegerField(_("rows written"), default=0)
    file = models.FileField(_("file"), upload_to=export_file_path, max_length=255, blank=True)
    error = models.TextField(_("error"), blank=True)
    created_at = models.DateTimeField(_("requested at"), auto_now_add=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        app_label = "invoicing"
        verbose_name = _("export")
        verbose_name_plural = _("exports")
        ordering = ["-created_at", "-id"]
        # Every export (streamed or queued, admin or API) is guarded by this one permission.
        permissions = [("export_data", "Can export data")]

    def __str__(self) -> str:
        return f"{self.get_what_display()} ({self.get_format_display()}) #{self.pk}"


# --- the integrator API: keys, idempotency, webhooks (invoicing/integrations.py, webhooks.py) --
