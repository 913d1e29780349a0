"""Monthly billing runs, their chunks and per-customer errors."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from cpo_portal.kernel.tenancy import Operator


class BillingRun(models.Model):
    """Monthly billing of one closed period for an operator; re-running it bills nothing twice."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        RUNNING = "running", _("Running")
        COMPLETED = "completed", _("Completed")
        COMPLETED_WITH_ERRORS = "completed_with_errors", _("Completed with errors")

    operator = models.ForeignKey(Operator, on_delete=models.PROTECT, related_name="billing_runs")
    period = models.DateField(_("period"), help_text=_("First day of the billed month."))
    status = models.CharField(
        _("status"), max_length=24, choices=Status.choices, default=Status.PENDING
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    customers_total = models.PositiveIntegerField(_("customers to bill"), default=0)
    customers_billed = models.PositiveIntegerField(_("customers billed"), default=0)
    customers_failed = models.PositiveIntegerField(_("customers failed"), default=0)
    documents_issued = models.PositiveIntegerField(_("documents issued"), default=0)
    sessions_billed = models.PositiveIntegerField(_("sessions billed"), default=0)
    chunks_total = models.PositiveIntegerField(_("chunks"), default=0)
    chunks_done = models.PositiveIntegerField(_("chunks done"), default=0)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-period", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["operator", "period"], name="one_run_per_period"),
        ]

    def __str__(self) -> str:
        return f"Billing run {self.period:%Y-%m} ({self.operator})"

    @property
    def duration(self):
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None


class BillingRunChunk(models.Model):
    """A slice of a run's customers billed in one transaction; done exactly once."""

    run = models.ForeignKey(BillingRun, on_delete=models.CASCADE, related_name="chunks")
    attempt = models.PositiveIntegerField()
    index = models.PositiveIntegerField()
    customer_ids = models.JSONField()
    is_done = models.BooleanField(default=False)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "attempt", "index"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "attempt", "index"], name="chunk_unique_in_attempt"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.run} attempt {self.attempt} chunk {self.index}"


class BillingRunError(models.Model):
    """Why one customer could not be billed in a run (the rest of the run goes on)."""

    run = models.ForeignKey(BillingRun, on_delete=models.CASCADE, related_name="errors")
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="billing_errors"
    )
    message = models.TextField(_("error"))
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run", "customer"]
        constraints = [
            models.UniqueConstraint(fields=["run", "customer"], name="one_error_per_customer"),
        ]

    def __str__(self) -> str:
        return f"{self.customer}: {self.message}"


# --- rendered PDFs and their delivery --------------------------------------------------------
