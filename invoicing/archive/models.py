"""The audit-proof archive (GoBD): append-only, content-addressed entries in one hash chain per
operator, the chain's head, legal holds and verification runs."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from cpo_portal.kernel.tenancy import Operator

GENESIS_HASH = "0" * 64


class ArchiveKind(models.TextChoices):
    DOCUMENT_PDF = "document_pdf", _("Document PDF")
    EINVOICE_XML = "einvoice_xml", _("E-invoice XML")
    SESSION_PAYLOAD = "session_payload", _("Session payload (CDR)")
    SIGNED_METER_DATA = "signed_meter_data", _("Signed meter data (Transparenzsoftware file)")
    PAYMENT_RECORD = "payment_record", _("Payment record")
    BOOKS = "books", _("Books (journals, booking batches)")


class ArchiveRecordError(Exception):
    """An archive entry is permanent: it cannot be changed or deleted."""


class ArchiveEntryQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise ArchiveRecordError("Archive entries are permanent and cannot be changed.")

    def delete(self):
        raise ArchiveRecordError("Archive entries are permanent and cannot be deleted.")


class ArchiveEntry(models.Model):
    """One archived file: its SHA-256 names it, its hash chains it to the entry before it."""

    operator = models.ForeignKey(Operator, on_delete=models.PROTECT, related_name="+")
    sequence = models.PositiveBigIntegerField(_("sequence"))
    kind = models.CharField(_("kind"), max_length=20, choices=ArchiveKind.choices)
    reference = models.CharField(_("reference"), max_length=200)
    # What was archived, once: "document_file:17", "session:42", "payment:5", "einvoice:…".
    source_key = models.CharField(_("source"), max_length=120)
    content_type = models.CharField(_("content type"), max_length=100)
    sha256 = models.CharField(_("SHA-256 of the file"), max_length=64)
    size = models.PositiveBigIntegerField(_("size (bytes)"))
    storage_name = models.CharField(_("stored as"), max_length=255)
    record_date = models.DateField(_("record date"))
    retain_until = models.DateField(_("retain until"))
    archived_at = models.DateTimeField(_("archived at"))
    previous_hash = models.CharField(_("previous entry's hash"), max_length=64)
    entry_hash = models.CharField(_("entry hash"), max_length=64)

    objects = ArchiveEntryQuerySet.as_manager()

    class Meta:
        app_label = "invoicing"
        verbose_name = _("archive entry")
        verbose_name_plural = _("archive entries")
        ordering = ["operator", "sequence"]
        constraints = [
            models.UniqueConstraint(
                fields=["operator", "sequence"], name="archive_entry_sequence_unique"
            ),
            # Two entries can never follow the same one: the chain cannot fork.
            models.UniqueConstraint(
                fields=["operator", "previous_hash"], name="archive_entry_no_fork"
            ),
            models.UniqueConstraint(
                fields=["operator", "source_key"], name="archive_entry_source_once"
            ),
            models.CheckConstraint(condition=Q(sequence__gte=1), name="archive_entry_sequence_1"),
        ]
        indexes = [
            models.Index(fields=["operator", "kind", "retain_until"]),
            models.Index(fields=["operator", "reference"]),
        ]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.get_kind_display()} {self.reference}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            raise ArchiveRecordError("Archive entries are permanent and cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ArchiveRecordError("Archive entries are permanent and cannot be deleted.")


class ArchiveChain(models.Model):
    """The head of an operator's chain; appending locks this row, so entries line up one by one."""

    operator = models.OneToOneField(Operator, on_delete=models.PROTECT, related_name="+")
    sequence = models.PositiveBigIntegerField(_("entries"), default=0)
    head_hash = models.CharField(_("head hash"), max_length=64, default=GENESIS_HASH)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        app_label = "invoicing"
        verbose_name = _("archive chain")

    def __str__(self) -> str:
        return f"{self.operator}: {self.sequence} entries"


class LegalHold(models.Model):
    """Entries that must be kept past their retention date (a tax audit, a lawsuit) until released.

    An empty kind, reference or archive period matches every entry on that criterion.
    """

    operator = models.ForeignKey(Operator, on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(_("reason"), max_length=200)
    kind = models.CharField(_("kind"), max_length=20, choices=ArchiveKind.choices, blank=True)
    reference = models.CharField(_("reference"), max_length=200, blank=True)
    archived_from = models.DateField(_("archived from"), null=True, blank=True)
    archived_to = models.DateField(_("archived to"), null=True, blank=True)
    placed_at = models.DateTimeField(_("placed at"), auto_now_add=True)
    placed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    released_at = models.DateTimeField(_("released at"), null=True, blank=True)

    class Meta:
        app_label = "invoicing"
        verbose_name = _("legal hold")
        ordering = ["operator", "-placed_at"]

    def __str__(self) -> str:
        return self.reason


class ArchiveVerification(models.Model):
    """One run of the archive check: how far it got and the first break it found."""

    class State(models.TextChoices):
        RUNNING = "running", _("Running")
        INTACT = "intact", _("Intact")
        BROKEN = "broken", _("Broken")

    operator = models.ForeignKey(
        Operator, on_delete=models.CASCADE, related_name="+", null=True, blank=True
    )
    state = models.CharField(
        _("state"), max_length=10, choices=State.choices, default=State.RUNNING
    )
    entries_checked = models.PositiveBigIntegerField(_("entries checked"), default=0)
    files_checked = models.PositiveBigIntegerField(_("files checked"), default=0)
    expired_files = models.PositiveBigIntegerField(_("files removed after retention"), default=0)
    message = models.TextField(_("result"), blank=True)
    started_at = models.DateTimeField(_("started at"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        app_label = "invoicing"
        verbose_name = _("archive verification")
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.get_state_display()} ({self.started_at:%Y-%m-%d %H:%M})"
