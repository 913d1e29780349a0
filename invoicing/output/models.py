"""Rendered PDF revisions, render failures and e-mail deliveries of documents; the public
receipt page's retrieval log and the e-mail addresses drivers leave there."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from invoicing.documents.models import Document, RecipientCorrection
from sessions.models import ChargingSession


def document_file_path(instance: DocumentFile, filename: str) -> str:
    """Where a rendered PDF is stored: by operator and issue month, named by number and revision."""
    document = instance.document
    number = "".join(c if c.isalnum() or c in "-_" else "_" for c in document.display_number)
    return (
        f"documents/{document.operator_id}/{document.issue_date:%Y/%m}/"
        f"{number or document.pk}-r{instance.revision}.pdf"
    )


class DocumentFile(models.Model):
    """A rendered PDF of an issued document and its SHA-256; a row per revision, none replaced."""

    class Reason(models.TextChoices):
        ISSUED = "issued", _("Issued")
        RECIPIENT_CORRECTED = "recipient_corrected", _("Recipient details corrected")
        RERENDERED = "rerendered", _("Re-rendered by staff")

    document = models.ForeignKey(Document, on_delete=models.PROTECT, related_name="files")
    revision = models.PositiveIntegerField(_("revision"))
    reason = models.CharField(_("reason"), max_length=24, choices=Reason.choices)
    correction = models.ForeignKey(
        RecipientCorrection,
        on_delete=models.PROTECT,
        related_name="files",
        null=True,
        blank=True,
        verbose_name=_("recipient correction"),
    )
    file = models.FileField(_("PDF"), upload_to=document_file_path, max_length=255)
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    size = models.PositiveBigIntegerField(_("size (bytes)"))
    rendered_at = models.DateTimeField(_("rendered at"), auto_now_add=True)
    rendered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )

    class Meta:
        verbose_name = _("document PDF")
        verbose_name_plural = _("document PDFs")
        ordering = ["document", "revision"]
        constraints = [
            models.UniqueConstraint(
                fields=["document", "revision"], name="document_file_revision_unique"
            ),
            models.UniqueConstraint(
                fields=["document"],
                condition=Q(reason="issued"),
                name="document_file_issued_once",
            ),
            models.UniqueConstraint(
                fields=["correction"],
                condition=Q(correction__isnull=False),
                name="document_file_once_per_correction",
            ),
            models.CheckConstraint(condition=Q(revision__gte=1), name="document_file_revision_1"),
        ]

    def __str__(self) -> str:
        return f"{self.document} r{self.revision}"


class RenderFailure(models.Model):
    """Why a document's PDF could not be rendered (a broken logo, a missing font), for staff."""

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="render_failures")
    reason = models.CharField(_("reason"), max_length=24, choices=DocumentFile.Reason.choices)
    error = models.TextField(_("error"))
    occurred_at = models.DateTimeField(_("occurred at"), auto_now_add=True)

    class Meta:
        ordering = ["document", "-occurred_at"]

    def __str__(self) -> str:
        return f"{self.document}: {self.error[:60]}"


class EmailDelivery(models.Model):
    """One e-mail of a document's PDF: queued, sent at most once, or failed with the reason."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    document = models.ForeignKey(
        Document, on_delete=models.PROTECT, related_name="email_deliveries"
    )
    document_file = models.ForeignKey(
        DocumentFile, on_delete=models.PROTECT, related_name="email_deliveries"
    )
    recipient = models.EmailField(_("recipient"))
    language = models.CharField(_("language"), max_length=8)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    is_resend = models.BooleanField(_("re-sent by staff"), default=False)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    queued_at = models.DateTimeField(_("queued at"), auto_now_add=True)
    claimed_at = models.DateTimeField(_("attempt started at"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    class Meta:
        verbose_name = _("e-mail delivery")
        verbose_name_plural = _("e-mail deliveries")
        ordering = ["document", "-queued_at", "-id"]
        constraints = [
            # The automatic e-mail of a revision exists once, so a task running twice sends once.
            models.UniqueConstraint(
                fields=["document_file"],
                condition=Q(is_resend=False),
                name="one_automatic_email_per_file",
            ),
            models.CheckConstraint(
                condition=(Q(status="sent") & Q(sent_at__isnull=False))
                | (~Q(status="sent") & Q(sent_at__isnull=True)),
                name="email_sent_iff_sent_at",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.document} to {self.recipient} ({self.get_status_display()})"


# --- exports for accountants (invoicing/exports.py) ------------------------------------------


class ReceiptRetrieval(models.Model):
    """One retrieval of a session's public receipt page, its PDF or its QR code (no address,
    no personal data: what was fetched and when)."""

    class What(models.TextChoices):
        PAGE = "page", _("Receipt page")
        PDF = "pdf", _("Receipt PDF")
        QR = "qr", _("QR code")
        FOUND = "found", _("Found by the driver")
        INVOICE = "invoice", _("Turned into an invoice")
        EMAIL = "email", _("E-mail requested")
        SIGNED_DATA = "signed_data", _("Signed meter data")

    session = models.ForeignKey(
        ChargingSession, on_delete=models.CASCADE, related_name="receipt_retrievals"
    )
    what = models.CharField(_("what"), max_length=12, choices=What.choices)
    document = models.ForeignKey(
        Document, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    at = models.DateTimeField(_("at"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("receipt retrieval")
        verbose_name_plural = _("receipt retrievals")
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_what_display()} of session {self.session_id} at {self.at:%Y-%m-%d %H:%M}"


class ReceiptEmailRequest(models.Model):
    """An address a driver left on the public receipt page: the receipt is e-mailed there once
    it exists, and the address is erased 30 days after it was left."""

    session = models.ForeignKey(
        ChargingSession, on_delete=models.CASCADE, related_name="receipt_email_requests"
    )
    email = models.EmailField(_("e-mail"), blank=True)
    requested_at = models.DateTimeField(_("requested at"), auto_now_add=True, db_index=True)
    # Requests served before the outbox took over the e-mails point at their delivery.
    delivery = models.ForeignKey(
        EmailDelivery, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    message = models.ForeignKey(
        "customers.OutboundMessage",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("message"),
    )

    class Meta:
        verbose_name = _("receipt e-mail request")
        verbose_name_plural = _("receipt e-mail requests")
        ordering = ["-requested_at", "-id"]

    def __str__(self) -> str:
        return f"Receipt of session {self.session_id} by e-mail"
