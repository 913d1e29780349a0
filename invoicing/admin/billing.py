"""Back-office screens for billing runs: start a month, follow it, bill failed customers again."""

from __future__ import annotations

import logging

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from kombu.exceptions import OperationalError as BrokerError

from cpo_portal.kernel import formatting
from cpo_portal.kernel.admin.errors import show_domain_error
from cpo_portal.kernel.admin.times import LocalTimesAdminMixin, local_time_column
from cpo_portal.kernel.errors import DomainError
from cpo_portal.kernel.periods import operator_time_zone, parse_period, previous_period, today_for
from invoicing.admin.common import ACTION_TEMPLATE, FirstRowsInline, ReadOnlyAdmin, change_url
from invoicing.admin.forms import StartBillingRunForm
from invoicing.billing import runs
from invoicing.billing.runs import queue_billing_run
from invoicing.documents.issuing import issue_session_documents
from invoicing.models import BilledSession, BillingRun, BillingRunError, HeldSession, Operator

logger = logging.getLogger(__name__)

FAILURES_NAMED = 10


class BillingRunErrorInline(FirstRowsInline):
    model = BillingRunError
    verbose_name = _("customer not billed")
    verbose_name_plural = _("customers not billed")
    fields = ["customer", "message", "created_at"]

    def total_rows(self, obj):
        return obj.customers_failed

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("customer")


@admin.register(BillingRun)
class BillingRunAdmin(LocalTimesAdminMixin, admin.ModelAdmin):
    """Runs are started by `run_billing`, by Beat on the 1st, or by the button here."""

    list_display = [
        "month",
        "operator",
        "status",
        "attempts",
        "customers_total",
        "customers_billed",
        "customers_failed",
        "documents_issued",
        "sessions_billed",
        "chunks",
        "started_local",
        "finished_local",
        "duration",
    ]
    list_filter = ["status", "operator"]
    list_select_related = ["operator"]
    show_full_result_count = False
    inlines = [BillingRunErrorInline]
    actions = ["rebill_failed_customers"]
    # A run bills the operator's month, so its times are on the operator's clock.
    time_zone_note = _("Times on this page are the operator's, %(zone)s.")
    started_local = local_time_column(
        "started_at", _("Started (operator time)"), operator_time_zone
    )
    finished_local = local_time_column(
        "finished_at", _("Finished (operator time)"), operator_time_zone
    )
    fieldsets = [
        (
            _("Run"),
            {
                "fields": [
                    "operator",
                    "month",
                    "status",
                    "attempts",
                    "started_at",
                    "finished_at",
                    "duration",
                ]
            },
        ),
        (
            _("Latest attempt"),
            {
                "fields": [
                    "customers_total",
                    "customers_billed",
                    "customers_failed",
                    "documents_issued",
                    "sessions_billed",
                    "chunks",
                ],
                "description": _(
                    "What the latest attempt planned and did; documents of earlier attempts "
                    "stand and are counted below."
                ),
            },
        ),
        (_("All attempts"), {"fields": ["documents"]}),
    ]
    readonly_fields = [field for _title, options in fieldsets for field in options["fields"]]

    def time_zone_of(self, obj):
        return operator_time_zone(obj)

    def has_add_permission(self, request):
        return False  # a run is started for a month, with the start form (or the command)

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_rebill_permission(self, request, obj=None):
        return request.user.has_perm("invoicing.change_billingrun")

    def has_start_permission(self, request):
        return request.user.has_perm("invoicing.add_billingrun")

    @admin.display(description=_("period"), ordering="period")
    def month(self, obj):
        return f"{obj.period:%Y-%m}"

    @admin.display(description=_("chunks done"))
    def chunks(self, obj):
        return f"{obj.chunks_done}/{obj.chunks_total}"

    @admin.display(description=_("duration (h:mm:ss)"))
    def duration(self, obj):
        if obj.duration is None:
            return "-"
        return formatting.clock_duration(int(obj.duration.total_seconds()), with_seconds=True)

    @admin.display(description=_("documents of the run"))
    def documents(self, obj):
        url = reverse("admin:invoicing_document_changelist") + f"?billing_run__id__exact={obj.pk}"
        return format_html('<a href="{}">{}</a>', url, obj.documents.count())

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_start": self.has_start_permission(request)}
        return super().changelist_view(request, extra_context)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["can_rebill"] = (
            obj is not None and self.has_rebill_permission(request) and obj.errors.exists()
        )
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_urls(self):
        opts = self.opts
        return [
            path(
                "start/",
                self.admin_site.admin_view(self.start_view),
                name=f"{opts.app_label}_{opts.model_name}_start",
            ),
            path(
                "<path:object_id>/rebill/",
                self.admin_site.admin_view(self.rebill_view),
                name=f"{opts.app_label}_{opts.model_name}_rebill",
            ),
            *super().get_urls(),
        ]

    # --- starting a run ----------------------------------------------------------------------

    def start_view(self, request):
        """Plan the run of a closed month and queue its chunks for the Celery workers."""
        if not self.has_start_permission(request):
            raise PermissionDenied
        data = request.POST if request.method == "POST" else None
        form = StartBillingRunForm(data, initial=self.start_initial())
        if form.is_bound and form.is_valid():
            operator = form.cleaned_data["operator"]
            try:
                period = parse_period(form.cleaned_data["period"])
                run = queue_billing_run(operator=operator, period=period)
            except DomainError as exc:
                show_domain_error(self, request, exc)
            except BrokerError as exc:
                # The plan is stored; starting the month again re-queues what is unbilled.
                logger.exception("Billing run chunks could not be queued")
                self.message_user(
                    request,
                    _(
                        "The run was planned but its work could not be handed to the workers "
                        "(%(error)s). Start the same month again once the queue is back."
                    )
                    % {"error": exc},
                    messages.ERROR,
                )
            else:
                self.message_user(request, self.started_message(run), messages.SUCCESS)
                return HttpResponseRedirect(change_url(run))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": None,
            "title": _("Start a billing run"),
            "summary": [],
            "form": form,
            "media": self.media + form.media,
            "submit_label": _("Start billing run"),
            "cancel_url": reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist"),
        }
        return TemplateResponse(request, ACTION_TEMPLATE, context)

    def start_initial(self) -> dict:
        operators = list(Operator.objects.filter(invoicing_settings__isnull=False)[:2])
        if len(operators) != 1:
            return {}
        (operator,) = operators
        previous = previous_period(today_for(operator))
        return {"operator": operator.pk, "period": f"{previous:%Y-%m}"}

    def started_message(self, run: BillingRun) -> str:
        if run.chunks_total == 0:
            left = runs.unbilled_sessions(run).count()
            if not left:
                return _("%(run)s: nothing left to bill.") % {"run": run}
            return ngettext(
                "%(run)s: no customer billed monthly has sessions to bill; %(count)d session of "
                "the month is still unbilled (a customer billed per session or on hold).",
                "%(run)s: no customer billed monthly has sessions to bill; %(count)d sessions of "
                "the month are still unbilled (customers billed per session or on hold).",
                left,
            ) % {"run": run, "count": left}
        customers = ngettext("%d customer", "%d customers", run.customers_total)
        chunks = ngettext("%d chunk", "%d chunks", run.chunks_total)
        return _("%(run)s started: %(customers)s in %(chunks)s, queued for the workers.") % {
            "run": run,
            "customers": customers % run.customers_total,
            "chunks": chunks % run.chunks_total,
        }

    # --- billing failed customers again ------------------------------------------------------

    def rebill_view(self, request, object_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        run = self.get_object(request, unquote(object_id))
        if run is None:
            raise Http404(_("No billing run with this ID."))
        if not (self.has_view_permission(request, run) and self.has_rebill_permission(request)):
            raise PermissionDenied
        self.rebill(request, run)
        return HttpResponseRedirect(change_url(run))

    @admin.action(description=_("Bill failed customers again"), permissions=["rebill"])
    def rebill_failed_customers(self, request, queryset):
        for run in queryset.select_related("operator").order_by("period", "pk"):
            self.rebill(request, run)

    def rebill(self, request, run: BillingRun) -> None:
        """Bill each customer with an error again, e.g. after their invoice details were fixed."""
        result = runs.rebill_failed_customers(run=run)  # the service, not the action
        if not result.tried:
            self.message_user(
                request, _("%(run)s has no failed customers.") % {"run": run}, messages.WARNING
            )
            return
        billed, documents, failures = result.customers_billed, result.documents, result.failures
        if len(failures) < result.tried:
            self.log_change(request, run, f"Failed customers billed again: {billed} billed.")
            issued = ngettext("%d document issued", "%d documents issued", documents) % documents
            self.message_user(
                request,
                _("%(run)s: billed %(billed)d of %(tried)d failed customers again (%(issued)s).")
                % {"run": run, "billed": billed, "tried": result.tried, "issued": issued},
                messages.SUCCESS,
            )
        if failures:
            named = "; ".join(
                f"{name}: {message}" for name, message in list(failures.items())[:FAILURES_NAMED]
            )
            if len(failures) > FAILURES_NAMED:
                named += "; …"
            self.message_user(
                request,
                ngettext(
                    "%(run)s: %(count)d customer still not billed (%(named)s).",
                    "%(run)s: %(count)d customers still not billed (%(named)s).",
                    len(failures),
                )
                % {"run": run, "count": len(failures), "named": named},
                messages.ERROR,
            )


@admin.register(HeldSession)
class HeldSessionAdmin(ReadOnlyAdmin):
    """Per-session documents not issued (details missing, e-invoice rules broken), like the
    errors of a billing run; the hourly task tries again, staff can after fixing the data."""

    list_display = ["held_at", "customer", "session", "rules", "message"]
    list_filter = ["customer__operator"]
    search_fields = ["customer__name", "customer__company_name", "session__source_id"]
    list_select_related = ["customer", "session"]
    show_full_result_count = False
    fields = ["held_at", "customer", "session", "rules", "message"]
    readonly_fields = fields
    actions = ["issue_again"]

    def get_queryset(self, request):
        # A session billed meanwhile (by staff, or a monthly run) is no longer held.
        billed = BilledSession.objects.filter(session=OuterRef("session"))
        return super().get_queryset(request).exclude(Exists(billed))

    def has_retry_permission(self, request, obj=None):
        return request.user.has_perm("invoicing.change_billingrun")

    @admin.display(description=_("failed rules"))
    def rules(self, obj):
        return ", ".join(obj.failed_rules) or "-"

    @admin.action(
        description=_("Issue the selected sessions' documents again"), permissions=["retry"]
    )
    def issue_again(self, request, queryset):
        tried = list(queryset.values_list("session_id", flat=True))
        issued = issue_session_documents(session_ids=tried)
        still = HeldSession.objects.filter(session_id__in=tried).count()
        self.message_user(
            request,
            _("%(issued)d of %(tried)d issued; %(still)d still held.")
            % {"issued": len(issued), "tried": len(tried), "still": still},
            messages.SUCCESS if not still else messages.WARNING,
        )
