"""Back-office pieces for document PDFs and e-mails, wired into the Document admin by admin.py.

Registers nothing itself. The PDF is always the stored file: a request never renders one;
"re-render" and "re-send" queue Celery tasks and say so.
"""

from __future__ import annotations

import logging

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.http import FileResponse, Http404, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from invoicing.models import Document, DocumentFile, EmailDelivery, RenderFailure
from invoicing.output import emails as delivery
from invoicing.output import pipeline as outputs

logger = logging.getLogger(__name__)


def pdf_response(document_file: DocumentFile, *, as_attachment: bool = False) -> FileResponse:
    """The stored PDF as a streamed response (for admin, portal and API views alike)."""
    try:
        handle = document_file.file.open("rb")
    except FileNotFoundError as exc:
        raise Http404("The stored PDF is missing.") from exc
    return FileResponse(
        handle,
        as_attachment=as_attachment,
        filename=delivery.attachment_name(document_file.document),
        content_type="application/pdf",
    )


class _ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class DocumentFileInline(_ReadOnlyInline):
    """Every rendered revision of the PDF, each downloadable; the newest is what customers get."""

    model = DocumentFile
    fk_name = "document"
    fields = ["revision", "reason", "rendered_at", "rendered_by", "size", "sha256", "download"]
    readonly_fields = fields
    ordering = ["-revision"]
    verbose_name = _("PDF revision")
    verbose_name_plural = _("PDF revisions")

    @admin.display(description=_("PDF"))
    def download(self, obj):
        if not obj.pk:
            return "-"
        url = reverse("admin:invoicing_document_pdf_revision", args=[obj.document_id, obj.revision])
        return format_html('<a href="{}">{}</a>', url, _("download"))


class EmailDeliveryInline(_ReadOnlyInline):
    """Every e-mail of the document: to whom, in which language, and how it went."""

    model = EmailDelivery
    fk_name = "document"
    fields = [
        "recipient",
        "language",
        "status",
        "attempts",
        "last_error",
        "is_resend",
        "requested_by",
        "queued_at",
        "sent_at",
        "document_file",
    ]
    readonly_fields = fields
    ordering = ["-queued_at", "-id"]


class RenderFailureInline(_ReadOnlyInline):
    """Why a PDF could not be rendered (fix the cause, then re-render)."""

    model = RenderFailure
    fields = ["occurred_at", "reason", "error"]
    readonly_fields = fields


OUTPUT_INLINES = [DocumentFileInline, EmailDeliveryInline, RenderFailureInline]


class DocumentOutputsAdminMixin:
    """Adds to the Document admin: PDF download URLs, a PDF column, re-render and re-send."""

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<path:object_id>/pdf/", view(self.pdf_view), name="invoicing_document_pdf"),
            path(
                "<path:object_id>/pdf/<int:revision>/",
                view(self.pdf_view),
                name="invoicing_document_pdf_revision",
            ),
            *super().get_urls(),
        ]

    def pdf_view(self, request, object_id, revision=None):
        """The stored PDF (newest, or a given revision); never rendered here."""
        document = self.get_object(request, unquote(object_id))
        if document is None or not self.has_view_permission(request, document):
            raise Http404("No such document.")
        files = document.files.order_by("-revision")
        document_file = files.filter(revision=revision).first() if revision else files.first()
        if document_file is None:
            self.message_user(
                request,
                _("%(document)s has no PDF yet; it is being rendered (or see the failures below).")
                % {"document": document},
                messages.WARNING,
            )
            return HttpResponseRedirect(
                reverse("admin:invoicing_document_change", args=[document.pk])
            )
        return pdf_response(document_file)

    @admin.display(description=_("PDF"))
    def pdf_link(self, obj):
        if not obj.pk or not obj.is_issued:
            return "-"
        url = reverse("admin:invoicing_document_pdf", args=[obj.pk])
        return format_html('<a href="{}" target="_blank">PDF</a>', url)

    def has_resend_permission(self, request, obj=None):
        return request.user.has_perm("invoicing.add_emaildelivery")

    def has_rerender_permission(self, request, obj=None):
        return request.user.has_perm("invoicing.add_documentfile")

    @admin.action(description=_("Re-send the PDF by e-mail"), permissions=["resend"])
    def resend_email(self, request, queryset):
        queued, problems = 0, []
        for document in queryset.select_related("profile"):
            try:
                delivery.resend_email(document=document, requested_by=request.user)
            except delivery.DeliveryError as exc:
                problems.append(str(exc))
            else:
                queued += 1
        if queued:
            self.message_user(
                request,
                ngettext(
                    "%(count)d e-mail queued; its status shows on the document.",
                    "%(count)d e-mails queued; their status shows on the documents.",
                    queued,
                )
                % {"count": queued},
                messages.SUCCESS,
            )
        for problem in problems[:10]:
            self.message_user(request, problem, messages.ERROR)

    @admin.action(description=_("Re-render the PDF"), permissions=["rerender"])
    def rerender_pdf(self, request, queryset):
        queued = failed = 0
        for document in queryset.exclude(status=Document.Status.DRAFT):
            if outputs.request_rerender(document=document, requested_by=request.user):
                queued += 1
            else:
                failed += 1
        if queued:
            self.message_user(
                request,
                ngettext(
                    "%(count)d PDF is being rendered; a new revision appears only if it changed.",
                    "%(count)d PDFs are being rendered; new revisions appear only if they changed.",
                    queued,
                )
                % {"count": queued},
                messages.SUCCESS,
            )
        if failed:
            self.message_user(
                request,
                _("The task queue is unreachable; %(count)d PDF(s) were not queued.")
                % {"count": failed},
                messages.ERROR,
            )


__all__ = [
    "OUTPUT_INLINES",
    "DocumentFileInline",
    "DocumentOutputsAdminMixin",
    "EmailDeliveryInline",
    "RenderFailureInline",
    "pdf_response",
]
