"""Exports in the back-office: actions and buttons on admin lists, and the export jobs list.

`ExportAdminMixin` gives a changelist "Export … as CSV / XLSX" for the selected rows (actions)
and for everything the current filters show (buttons, templates/admin/exports/). Small exports
stream in the response; larger ones become an `ExportJob` that a Celery worker writes to
storage (`cpo_portal/kernel/exports/tasks.py`). The exports themselves are registered by their
apps (docs/exports.md); this module finds them by name.
"""

from __future__ import annotations

import logging
import os

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import IS_POPUP_VAR, IncorrectLookupParameters
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import (
    FileResponse,
    Http404,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.urls import path, reverse
from django.utils.formats import number_format
from django.utils.html import format_html
from django.utils.http import content_disposition_header
from django.utils.translation import gettext_lazy as _

from cpo_portal.kernel.exports import jobs, writers
from cpo_portal.kernel.exports.models import ExportJob
from cpo_portal.kernel.exports.registry import EXPORT_PERMISSION
from cpo_portal.kernel.exports.tasks import queue_export_job

logger = logging.getLogger(__name__)

FORMAT_LABELS = {ExportJob.Format.CSV: "CSV", ExportJob.Format.XLSX: "XLSX"}
# Selected rows are remembered by id: at most a page of them, unless "select all" was used.
SELECTED_IDS_LIMIT = 10_000


def export_response(*, what: str, fmt: str, queryset):
    """The export as a download streamed in this response (for a few thousand rows)."""
    filename = writers.filename_for(what, fmt)
    if fmt == ExportJob.Format.CSV:
        response = StreamingHttpResponse(
            writers.iter_csv_bytes(what=what, queryset=queryset),
            content_type=writers.CONTENT_TYPES[fmt],
        )
        response["Content-Disposition"] = content_disposition_header(True, filename)
        return response
    return FileResponse(
        writers.xlsx_tempfile(what=what, queryset=queryset),
        as_attachment=True,
        filename=filename,
        content_type=writers.CONTENT_TYPES[fmt],
    )


class ExportAdminMixin:
    """Export actions and buttons for a ModelAdmin; `exports` lists what it offers."""

    # (what, what the buttons call it, the action's label with a %(format)s placeholder)
    exports: tuple[tuple[str, str, str], ...] = ()

    def has_export_permission(self, request) -> bool:
        return request.user.has_perm(EXPORT_PERMISSION)

    def may_export(self, request) -> bool:
        return self.has_view_permission(request) and self.has_export_permission(request)

    # --- actions: the selected rows ----------------------------------------------------------

    def get_actions(self, request):
        actions = super().get_actions(request)
        if IS_POPUP_VAR in request.GET or not self.may_export(request):
            return actions
        for what, _label, action_label in self.exports:
            for fmt, fmt_label in FORMAT_LABELS.items():
                name = f"export_{what}_{fmt}"
                description = action_label % {"format": fmt_label}
                actions[name] = (self._export_action(what, fmt), name, description)
        return actions

    @staticmethod
    def _export_action(what: str, fmt: str):
        def action(modeladmin, request, queryset):
            selected = None
            if request.POST.get("select_across") != "1":
                selected = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
                selected = selected[:SELECTED_IDS_LIMIT]
            return modeladmin.start_export(request, queryset, what=what, fmt=fmt, selected=selected)

        return action

    # --- buttons: everything the filters show ------------------------------------------------

    def get_urls(self):
        opts = self.opts
        return [
            path(
                "export/<str:what>/<str:fmt>/",
                self.admin_site.admin_view(self.export_view),
                name=f"{opts.app_label}_{opts.model_name}_export_list",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        buttons = []
        if self.may_export(request) and IS_POPUP_VAR not in request.GET:
            base = reverse(
                f"admin:{self.opts.app_label}_{self.opts.model_name}_export_list",
                args=["WHAT", "FMT"],
            )
            query = request.GET.urlencode()
            for what, label, _action_label in self.exports:
                for fmt, fmt_label in FORMAT_LABELS.items():
                    url = base.replace("WHAT", what).replace("FMT", fmt)
                    text = _("Export %(what)s (%(format)s)") % {"what": label, "format": fmt_label}
                    buttons.append((f"{url}?{query}" if query else url, text))
        extra_context = {**(extra_context or {}), "export_buttons": buttons}
        return super().changelist_view(request, extra_context)

    def export_view(self, request, what, fmt):
        """Export what the changelist shows with the filters of this URL's query string."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.may_export(request):
            raise PermissionDenied
        if what not in {entry[0] for entry in self.exports} or fmt not in FORMAT_LABELS:
            raise Http404(_("No such export."))
        try:
            queryset = self.get_changelist_instance(request).get_queryset(request)
        except IncorrectLookupParameters:
            self.message_user(
                request, _("The list's filters are not valid; nothing exported."), messages.ERROR
            )
            return HttpResponseRedirect(self.changelist_url())
        return self.start_export(request, queryset, what=what, fmt=fmt, selected=None)

    def changelist_url(self, query: str = "") -> str:
        url = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist")
        return f"{url}?{query}" if query else url

    # --- streaming or queueing ---------------------------------------------------------------

    def start_export(self, request, queryset, *, what, fmt, selected):
        """Stream a small export now; queue a large one as a job and say where it will be."""
        if not self.may_export(request):
            raise PermissionDenied
        limit = writers.stream_max_rows()
        rows = writers.count_rows(what=what, queryset=queryset, limit=limit)
        if rows <= limit:
            # Who exported what is kept in the logs (exports carry personal data).
            logger.info("%s exports %d rows of %s as %s", request.user, rows, what, fmt)
            return export_response(what=what, fmt=fmt, queryset=queryset)
        job = ExportJob.objects.create(
            requested_by=request.user,
            what=what,
            format=fmt,
            filters={
                "model": self.opts.label_lower,
                "query": request.GET.urlencode(),
                "selected": selected,
            },
        )
        self.log_addition(request, job, f"Export of {what} as {fmt} queued.")
        queue_export_job(job)
        if job.status == ExportJob.Status.FAILED:
            self.message_user(
                request,
                _("The export could not be handed to the workers (%(error)s); try again later.")
                % {"error": job.error},
                messages.ERROR,
            )
        else:
            self.message_user(
                request,
                format_html(
                    str(
                        _(
                            "The export has more than {limit} rows, so a worker writes it: "
                            '<a href="{url}">{job}</a> shows its progress and the download '
                            "when it is done."
                        )
                    ),
                    limit=number_format(limit, force_grouping=True),
                    url=reverse("admin:invoicing_exportjob_change", args=[job.pk]),
                    job=job,
                ),
                messages.SUCCESS,
            )
        return HttpResponseRedirect(self.changelist_url(request.GET.urlencode()))


# --- the jobs list ---------------------------------------------------------------------------


@admin.register(ExportJob)
class ExportJobAdmin(admin.ModelAdmin):
    """Exports written by workers: each user sees their own (superusers see all)."""

    list_display = [
        "__str__",
        "requested_by",
        "status",
        "progress",
        "created_at",
        "finished_at",
        "download",
    ]
    list_filter = ["status", "what", "format"]
    list_select_related = ["requested_by"]
    show_full_result_count = False
    fields = [
        "what",
        "format",
        "requested_by",
        "status",
        "progress",
        "download",
        "filters",
        "error",
        "created_at",
        "started_at",
        "finished_at",
    ]
    readonly_fields = fields

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(requested_by=request.user)

    def has_add_permission(self, request):
        return False  # jobs start from the export actions of the lists

    def has_change_permission(self, request, obj=None):
        return False

    def delete_model(self, request, obj):
        jobs.delete_job_files([obj])
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        jobs.delete_job_files(queryset)
        super().delete_queryset(request, queryset)

    @admin.display(description=_("progress"))
    def progress(self, obj):
        if obj.rows_total is None:
            return _("%(written)d rows") % {"written": obj.rows_written}
        return _("%(written)d of %(total)d rows") % {
            "written": obj.rows_written,
            "total": obj.rows_total,
        }

    @admin.display(description=_("download"))
    def download(self, obj):
        if obj.status != ExportJob.Status.DONE or not obj.file:
            return "-"
        url = reverse("admin:invoicing_exportjob_download", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, os.path.basename(obj.file.name))

    def get_urls(self):
        return [
            path(
                "<path:object_id>/download/",
                self.admin_site.admin_view(self.download_view),
                name="invoicing_exportjob_download",
            ),
            *super().get_urls(),
        ]

    def download_view(self, request, object_id):
        """The finished file, to its owner (or a superuser) while they may still export."""
        job = self.get_object(request, unquote(object_id))  # only own jobs are found
        if job is None or job.status != ExportJob.Status.DONE or not job.file:
            raise Http404(_("No finished export with this ID."))
        if not (
            self.has_view_permission(request, job) and request.user.has_perm(EXPORT_PERMISSION)
        ):
            raise PermissionDenied
        try:
            handle = job.file.open("rb")
        except FileNotFoundError as exc:
            raise Http404(_("The export's file is missing.")) from exc
        filename = os.path.basename(job.file.name).split("-", 1)[-1]
        return FileResponse(
            handle,
            as_attachment=True,
            filename=filename,
            content_type=writers.CONTENT_TYPES.get(job.format, "application/octet-stream"),
        )
