"""Back-office screens for tax rules (per country, category and date), VAT registrations and
exchange rates."""

from __future__ import annotations

from django.contrib import admin

from invoicing.models import ExchangeRate, TaxRule, VatRegistration


@admin.register(TaxRule)
class TaxRuleAdmin(admin.ModelAdmin):
    """Billing managers add a rule with a new date when a rate changes; documents already
    issued keep the VAT they were issued with."""

    list_display = [
        "country",
        "category",
        "valid_from",
        "rate",
        "individual",
        "business_domestic",
        "business_foreign",
    ]
    list_filter = ["category", "country"]
    search_fields = ["country"]
    ordering = ["country", "category", "-valid_from"]
    fieldsets = [
        (None, {"fields": ["country", "category", "valid_from", "rate", "rate_reason"]}),
        (
            "Per customer",
            {
                "fields": [
                    "individual",
                    "individual_text",
                    "business_domestic",
                    "business_domestic_text",
                    "business_foreign",
                    "business_foreign_text",
                ]
            },
        ),
    ]


@admin.register(VatRegistration)
class VatRegistrationAdmin(admin.ModelAdmin):
    """The VAT ID an operator prints on supplies in a country it is registered in."""

    list_display = ["operator", "country", "vat_id"]
    list_filter = ["operator"]
    search_fields = ["vat_id"]


@admin.register(ExchangeRate)
class ExchangeRateAdmin(admin.ModelAdmin):
    """Rates per euro by day: imported with `manage.py import_exchange_rates` or typed in;
    documents freeze the rate they used, so changing one never alters an issued document."""

    list_display = ["currency", "rate_date", "rate", "source"]
    list_filter = ["currency", "source"]
    search_fields = ["currency"]
    date_hierarchy = "rate_date"
    ordering = ["-rate_date", "currency"]
