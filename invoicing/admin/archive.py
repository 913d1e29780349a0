"""Back-office screens for the audit-proof archive: entries (read-only, with their files), the
verification runs and their "verify now" button, legal holds, the retention report, and the
tax-audit export for a period."""

from __future__ import annotations

import logging
import tempfile

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from kombu.exceptions import OperationalError as BrokerError

from cpo_portal.kernel.admin.errors import show_domain_error
from cpo_portal.kernel.errors import DomainError
from invoicing import tasks
from invoicing.accounting.tax_audit import parse_audit_period, write_tax_audit_export
from invoicing.admin.common import ReadOnlyAdmin
from invoicing.archive.archiving import archive_storage
from invoicing.archive.retention import held_filter, retention_report
from invoicing.models import ArchiveEntry, ArchiveVerification, LegalHold, Operator

logger = logging.getLogger(__name__)
ACTION_TEMPLATE = "admin/invoicing/action_form.html"


class RetentionFilter(admin.SimpleListFilter):
    title = _("retention")
    parameter_name = "retention"

    def lookups(self, request, model_admin):
        return [
            ("kept", _("Within retention")),
            ("held", _("Under legal hold")),
            ("deletable", _("May be deleted")),
        ]

    def queryset(self, request, queryset):
        today = timezone.localdate()
        held = held_filter()
        if self.value() == "kept":
            return queryset.filter(retain_until__gte=today)
        if self.value() == "held":
            return queryset.filter(held) if held is not None else queryset.none()
        if self.value() == "deletable":
            expired = queryset.filter(retain_until__lt=today)
            return expired.exclude(held) if held is not None else expired
        return queryset


class OperatorPeriodForm(forms.Form):
    operator = forms.ModelChoiceField(queryset=Operator.objects.order_by("name"))
    period = forms.CharField(
        label=_("period"), max_length=7, help_text=_("A month (YYYY-MM) or a year (YYYY).")
    )


@admin.register(ArchiveEntry)
class ArchiveEntryAdmin(ReadOnlyAdmin):
    list_display = [
        "sequence",
        "operator",
        "kind",
        "reference",
        "archived_at",
        "retain_until",
        "size",
        "short_hash",
        "download",
    ]
    list_filter = ["kind", RetentionFilter, "operator"]
    search_fields = ["^reference", "=sha256"]
    list_select_related = ["operator"]
    show_full_result_count = False
    ordering = ["operator", "-sequence"]
    fields = [
        "operator",
        "sequence",
        "kind",
        "reference",
        "source_key",
        "content_type",
        "sha256",
        "size",
        "storage_name",
        "record_date",
        "retain_until",
        "archived_at",
        "previous_hash",
        "entry_hash",
    ]
    readonly_fields = fields

    @admin.display(description=_("SHA-256"))
    def short_hash(self, obj):
        return f"{obj.sha256[:12]}…"

    @admin.display(description=_("file"))
    def download(self, obj):
        url = reverse("admin:invoicing_archiveentry_download", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, _("Download"))

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_export": request.user.has_perm("invoicing.export_data"),
            "can_verify": request.user.has_perm("invoicing.add_archiveverification"),
        }
        return super().changelist_view(request, extra_context)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "<int:object_id>/download/",
                view(self.download_view),
                name="invoicing_archiveentry_download",
            ),
            path("retention/", view(self.retention_view), name="invoicing_archiveentry_retention"),
            path(
                "tax-audit-export/",
                view(self.tax_audit_view),
                name="invoicing_archiveentry_tax_audit",
            ),
            *super().get_urls(),
        ]

    def download_view(self, request, object_id):
        """The archived bytes, as stored (an auditor's copy of one record)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        entry = get_object_or_404(ArchiveEntry, pk=object_id)
        try:
            handle = archive_storage().open(entry.storage_name, "rb")
        except (FileNotFoundError, OSError) as exc:
            raise Http404("The archived file is missing; run verify_archive.") from exc
        suffix = {"application/pdf": "pdf", "application/json": "json"}.get(
            entry.content_type, "xml" if "xml" in entry.content_type else "bin"
        )
        return FileResponse(
            handle,
            as_attachment=True,
            filename=f"archive-{entry.operator_id}-{entry.sequence}.{suffix}",
            content_type=entry.content_type,
        )

    def retention_view(self, request):
        """Per operator and kind: entries, those under legal hold, those that may be deleted."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        today = timezone.localdate()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Archive retention on %(day)s") % {"day": today.isoformat()},
            "rows": retention_report(today=today),
            "deletable_url": reverse("admin:invoicing_archiveentry_changelist")
            + "?retention=deletable",
        }
        return TemplateResponse(request, "admin/invoicing/archiveentry/retention.html", context)

    def tax_audit_view(self, request):
        """A period's tax-audit export (GDPdU CSV tables and index.xml) as one ZIP download."""
        if not request.user.has_perm("invoicing.export_data"):
            raise PermissionDenied
        data = request.POST if request.method == "POST" else None
        operators = list(Operator.objects.order_by("pk")[:2])
        initial = {"operator": operators[0].pk} if len(operators) == 1 else {}
        form = OperatorPeriodForm(data, initial=initial)
        if form.is_bound and form.is_valid():
            operator = form.cleaned_data["operator"]
            try:
                period = parse_audit_period(form.cleaned_data["period"])
            except DomainError as exc:
                show_domain_error(self, request, exc)
            else:
                # Closed by the response once streamed.
                spool = tempfile.TemporaryFile()  # noqa: SIM115
                write_tax_audit_export(operator=operator, period=period, out=spool)
                spool.seek(0)
                return FileResponse(
                    spool,
                    as_attachment=True,
                    filename=f"tax-audit-{operator.pk}-{period.label}.zip",
                    content_type="application/zip",
                )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": None,
            "title": _("Tax-audit export (GDPdU)"),
            "summary": [],
            "form": form,
            "media": self.media + form.media,
            "submit_label": _("Download ZIP"),
            "cancel_url": reverse("admin:invoicing_archiveentry_changelist"),
        }
        return TemplateResponse(request, ACTION_TEMPLATE, context)


class VerifyForm(forms.Form):
    operator = forms.ModelChoiceField(
        queryset=Operator.objects.order_by("name"),
        required=False,
        help_text=_("Leave empty to verify every operator's archive."),
    )


@admin.register(ArchiveVerification)
class ArchiveVerificationAdmin(ReadOnlyAdmin):
    list_display = [
        "started_at",
        "operator",
        "state",
        "entries_checked",
        "files_checked",
        "expired_files",
        "message",
        "finished_at",
    ]
    list_filter = ["state"]
    fields = [
        "operator",
        "state",
        "entries_checked",
        "files_checked",
        "expired_files",
        "message",
        "started_at",
        "finished_at",
        "requested_by",
    ]
    readonly_fields = fields

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_verify": request.user.has_perm("invoicing.add_archiveverification"),
        }
        return super().changelist_view(request, extra_context)

    def get_urls(self):
        return [
            path(
                "verify/",
                self.admin_site.admin_view(self.verify_view),
                name="invoicing_archiveverification_verify",
            ),
            *super().get_urls(),
        ]

    def verify_view(self, request):
        """Queue a check of the chain and every file; the run's row shows state and counts."""
        if not request.user.has_perm("invoicing.add_archiveverification"):
            raise PermissionDenied
        form = VerifyForm(request.POST if request.method == "POST" else None)
        if form.is_bound and form.is_valid():
            verification = ArchiveVerification.objects.create(
                operator=form.cleaned_data["operator"], requested_by=request.user
            )
            try:
                tasks.verify_archive.delay(verification.pk)
            except BrokerError as exc:
                logger.exception("Archive verification could not be queued")
                ArchiveVerification.objects.filter(pk=verification.pk).delete()
                self.message_user(
                    request,
                    _("The check could not be handed to the workers (%(error)s); try again.")
                    % {"error": exc},
                    messages.ERROR,
                )
            else:
                self.message_user(
                    request,
                    _("The archive check is queued; this list shows its result when done."),
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(
                    reverse("admin:invoicing_archiveverification_changelist")
                )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": None,
            "title": _("Verify the archive"),
            "summary": [],
            "form": form,
            "media": self.media + form.media,
            "submit_label": _("Verify now"),
            "cancel_url": reverse("admin:invoicing_archiveverification_changelist"),
        }
        return TemplateResponse(request, ACTION_TEMPLATE, context)


@admin.register(LegalHold)
class LegalHoldAdmin(admin.ModelAdmin):
    list_display = [
        "reason",
        "operator",
        "kind",
        "reference",
        "archived_from",
        "archived_to",
        "placed_at",
        "released_at",
    ]
    list_filter = [("released_at", admin.EmptyFieldListFilter), "operator"]
    fields = ["operator", "reason", "kind", "reference", "archived_from", "archived_to"]
    actions = ["release"]

    def has_delete_permission(self, request, obj=None):
        # A hold is released, never deleted: when it was placed and lifted stays on record.
        return False

    def get_readonly_fields(self, request, obj=None):
        return self.fields if obj is not None else []

    def save_model(self, request, obj, form, change):
        if not change:
            obj.placed_by = request.user
        super().save_model(request, obj, form, change)

    @admin.action(description=_("Release the selected legal holds"), permissions=["change"])
    def release(self, request, queryset):
        count = queryset.filter(released_at__isnull=True).update(released_at=timezone.now())
        self.message_user(
            request, _("%(count)d legal holds released.") % {"count": count}, messages.SUCCESS
        )
