"""Export columns of customers and their invoice details (docs/exports.md)."""

from __future__ import annotations

from cpo_portal.kernel.exports.columns import Boolean, ExportResource, Integer, Timestamp, column


class CustomerResource(ExportResource):
    """One row per customer."""

    customer_id = column("pk", Integer())
    kind = column("kind")
    name = column("name")
    company_name = column("company_name")
    company_registration_id = column("company_registration_id")
    vat_id = column("vat_id")
    street = column("street")
    postal_code = column("postal_code")
    city = column("city")
    country = column("country")
    email = column("email")
    mobile_phone = column("mobile_phone")
    language = column("language")
    requires_invoice = column("requires_invoice", Boolean())
    billing_mode = column("billing_mode")
    operator = column("operator__name")
    created_at_utc = column("created_at", Timestamp())

    @classmethod
    def prepare(cls, queryset):
        return queryset.select_related("operator")
