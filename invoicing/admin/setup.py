"""Back-office screens for operators: their invoicing settings and document numbering."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Max
from django.utils.translation import gettext_lazy as _

from invoicing.admin.forms import InvoicingSettingsForm, NumberingSeriesForm
from invoicing.models import InvoicingSettings, NumberingSeries, Operator
from invoicing.setup.operators import ensure_series, set_up_operator


class InvoicingSettingsInline(admin.StackedInline):
    model = InvoicingSettings
    form = InvoicingSettingsForm
    can_delete = False
    fieldsets = [
        (
            "General configuration",
            {
                "fields": [
                    "document_type",
                    "always_issue",
                    "default_language",
                    "electricity_vat_rate",
                    "services_vat_rate",
                    "mandatory_fields_individual",
                    "mandatory_fields_company",
                    "payment_grace_days",
                ]
            },
        ),
        ("Issuing schedule", {"fields": ["issuing_schedule", "auto_email"]}),
        ("E-invoices", {"fields": ["einvoice_format", "iban", "bic"]}),
        ("SEPA direct debit", {"fields": ["sepa_creditor_identifier"]}),
        (
            "Content",
            {
                "fields": [
                    "show_country",
                    "show_energy",
                    "show_duration",
                    "services_table",
                    "breakdown_page",
                    "services_label",
                    "hide_energy",
                    "notice",
                    "custom_text",
                    "logo",
                ]
            },
        ),
    ]


class NumberingSeriesInline(admin.TabularInline):
    """One series per document kind; they are created with the operator, never added here."""

    model = NumberingSeries
    form = NumberingSeriesForm
    fields = [
        "kind",
        "prefix",
        "yearly_prefix",
        "next_number",
        "padding",
        "next_document",
        "last_issued",
    ]
    readonly_fields = ["kind", "next_document", "last_issued"]
    extra = 0
    can_delete = False
    verbose_name_plural = _("document numbering")

    def get_formset(self, request, obj=None, **kwargs):
        if obj is not None:
            ensure_series(operator=obj)  # every kind shows, even before its first document
        return super().get_formset(request, obj, **kwargs)

    def get_queryset(self, request):
        # Closed prefixes keep their documents but number nothing any more.
        return (
            super()
            .get_queryset(request)
            .filter(closed_at=None)
            .annotate(last_number=Max("documents__number"))
        )

    def has_add_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("next document"))
    def next_document(self, obj):
        return obj.format(obj.next_number)

    @admin.display(description=_("last issued"))
    def last_issued(self, obj):
        last = getattr(obj, "last_number", None)
        return obj.format(last) if last is not None else _("none yet")


@admin.register(Operator)
class OperatorAdmin(admin.ModelAdmin):
    list_display = ["name", "legal_name", "country", "vat_id", "currency"]
    search_fields = ["name", "legal_name", "vat_id"]
    inlines = [InvoicingSettingsInline, NumberingSeriesInline]

    def get_inlines(self, request, obj):
        # A new operator's series are created when it is saved, so they show from then on.
        return self.inlines if obj is not None else [InvoicingSettingsInline]

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        # An untouched settings form is not saved by Django; documents need settings and series.
        set_up_operator(operator=form.instance)
