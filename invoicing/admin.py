"""Back-office screens for the operator and its invoicing settings."""

from django.contrib import admin

from .models import InvoicingSettings, Operator


class InvoicingSettingsInline(admin.StackedInline):
    model = InvoicingSettings
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


@admin.register(Operator)
class OperatorAdmin(admin.ModelAdmin):
    list_display = ["name", "legal_name", "country", "vat_id", "currency"]
    search_fields = ["name", "legal_name", "vat_id"]
    inlines = [InvoicingSettingsInline]
