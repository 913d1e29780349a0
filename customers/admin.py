"""Back-office screens for customers and their charging tokens."""

from django.contrib import admin
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .forms import CustomerAdminForm
from .models import ChargingToken, Customer


class ChargingTokenInline(admin.TabularInline):
    model = ChargingToken
    extra = 0
    fields = ["kind", "uid", "is_blocked", "blocked_reason"]


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    form = CustomerAdminForm
    list_display = [
        "id",
        "display_name",
        "kind",
        "email",
        "country",
        "requires_invoice",
        "operator",
    ]
    list_filter = ["kind", "requires_invoice", "country", "billing_mode"]
    search_fields = ["name", "company_name", "email", "vat_id"]
    list_select_related = ["operator"]
    raw_id_fields = ["operator"]
    inlines = [ChargingTokenInline]
    show_full_result_count = False
    fieldsets = [
        (
            _("Customer"),
            {
                "fields": ["operator", "kind", "language"],
                "description": _(
                    "Who is billed. The invoice details each kind must give are set per "
                    "operator, in the invoicing settings on the operator's page."
                ),
            },
        ),
        (
            _("Invoice details"),
            {"fields": ["name", "company_name", "company_registration_id", "vat_id", "email"]},
        ),
        (_("Address"), {"fields": ["street", "postal_code", "city", "country"]}),
        (
            _("Billing"),
            {"fields": ["requires_invoice", "billing_mode", "email_collected_at"]},
        ),
    ]

    def get_readonly_fields(self, request, obj=None):
        # A customer stays with the operator whose sessions and documents it has.
        readonly = ["email_collected_at"]
        return [*readonly, "operator"] if obj is not None else readonly

    def save_model(self, request, obj, form, change):
        # Ad-hoc e-mails are erased 30 days after collection; an e-mail typed in here is
        # collected now.
        if (
            obj.kind == Customer.Kind.AD_HOC
            and obj.email
            and (obj.email_collected_at is None or "email" in form.changed_data)
        ):
            obj.email_collected_at = timezone.now()
        super().save_model(request, obj, form, change)


@admin.register(ChargingToken)
class ChargingTokenAdmin(admin.ModelAdmin):
    list_display = ["uid", "kind", "customer", "is_blocked"]
    list_filter = ["kind", "is_blocked"]
    search_fields = ["uid"]
    raw_id_fields = ["customer"]
    list_select_related = ["customer"]
