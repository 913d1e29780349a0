"""The structured e-invoice (EN 16931 XML) issued with a document, and its validation report."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from customers.models import EInvoiceFormat
from invoicing.documents.models import Document, IssuedDocumentError


class EInvoice(models.Model):
    """A document's e-invoice XML as issued (validated before issue); never changed afterwards."""

    Format = EInvoiceFormat

    document = models.OneToOneField(Document, on_delete=models.PROTECT, related_name="einvoice")
    format = models.CharField(_("format"), max_length=16, choices=EInvoiceFormat.choices)
    xml = models.BinaryField(_("XML"))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    report = models.JSONField(
        _("validation report"),
        help_text=_("XML Schema and Schematron findings per rule set, with the rule versions."),
    )
    created_at = models.DateTimeField(_("issued at"), auto_now_add=True)

    class Meta:
        app_label = "invoicing"
        verbose_name = _("e-invoice")
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.get_format_display()} of {self.document_id}"

    def save(self, *args, **kwargs):
        if self.pk:
            raise IssuedDocumentError("An issued e-invoice cannot be changed.")
        super().save(*args, **kwargs)

    @property
    def filename(self) -> str:
        number = "".join(
            c if c.isalnum() or c in "-_" else "_" for c in self.document.display_number
        )
        return f"{number or self.document_id}-{self.format}.xml"
