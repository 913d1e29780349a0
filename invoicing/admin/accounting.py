"""Back-office screens for DATEV: settings, the revenue account map, debtor accounts, and the
download of a month's booking batch."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from cpo_portal.kernel.admin.errors import show_domain_error
from cpo_portal.kernel.errors import DomainError
from cpo_portal.kernel.periods import parse_period, previous_period, today_for
from invoicing.accounting.datev.export import export_datev
from invoicing.admin.common import ACTION_TEMPLATE
from invoicing.admin.forms import DatevExportForm
from invoicing.models import DatevSettings, DebtorAccount, Operator, RevenueAccount

EXPORT_PERMISSION = "invoicing.export_data"


@admin.register(DatevSettings)
class DatevSettingsAdmin(admin.ModelAdmin):
    """An operator's DATEV numbers; the list has the button that downloads a month."""

    list_display = ["operator", "consultant_number", "client_number", "chart", "bank_account"]
    fieldsets = [
        (None, {"fields": ["operator", "consultant_number", "client_number", "initials"]}),
        (
            _("Accounts"),
            {
                "fields": [
                    "chart",
                    "account_length",
                    "fiscal_year_start_month",
                    ("debtor_range_start", "debtor_range_end"),
                    "bank_account",
                    "lock_bookings",
                ]
            },
        ),
    ]

    def has_export_permission(self, request) -> bool:
        return request.user.has_perm(EXPORT_PERMISSION)

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_export": self.has_export_permission(request)}
        return super().changelist_view(request, extra_context)

    def get_urls(self):
        opts = self.opts
        return [
            path(
                "export/",
                self.admin_site.admin_view(self.export_view),
                name=f"{opts.app_label}_{opts.model_name}_export",
            ),
            *super().get_urls(),
        ]

    def export_view(self, request):
        """The ZIP of a month (booking batch and debtors), or the refusal as a message."""
        if not self.has_export_permission(request):
            raise PermissionDenied
        data = request.POST if request.method == "POST" else None
        form = DatevExportForm(data, initial=self.export_initial())
        if form.is_bound and form.is_valid():
            try:
                export = export_datev(
                    operator=form.cleaned_data["operator"],
                    period=parse_period(form.cleaned_data["period"]),
                )
            except DomainError as exc:
                show_domain_error(self, request, exc)
            else:
                response = HttpResponse(export.content, content_type="application/zip")
                response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
                return response
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": None,
            "title": _("Download a DATEV export"),
            "summary": [],
            "form": form,
            "media": self.media + form.media,
            "submit_label": _("Download ZIP"),
            "cancel_url": reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist"),
        }
        return TemplateResponse(request, ACTION_TEMPLATE, context)

    @staticmethod
    def export_initial() -> dict:
        operators = list(Operator.objects.filter(datev_settings__isnull=False)[:2])
        if len(operators) != 1:
            return {}
        (operator,) = operators
        return {"operator": operator.pk, "period": f"{previous_period(today_for(operator)):%Y-%m}"}


@admin.register(RevenueAccount)
class RevenueAccountAdmin(admin.ModelAdmin):
    """The account map: which revenue account a supply is booked on. The most specific entry
    wins (country before "EU" before "*", a category before any, a rate before any)."""

    list_display = ["chart", "country", "category", "treatment", "rate", "account", "bu_key"]
    list_filter = ["chart", "treatment", "country"]
    list_editable = ["account", "bu_key"]
    search_fields = ["country", "description"]


@admin.register(DebtorAccount)
class DebtorAccountAdmin(admin.ModelAdmin):
    """Given by the export, once per customer; read-only so a number never changes."""

    list_display = ["number", "customer", "operator", "created_at"]
    list_filter = ["operator"]
    search_fields = ["customer__name", "customer__company_name", "=number"]
    list_select_related = ["customer", "operator"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
