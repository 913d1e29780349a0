"""Back-office screens for payments: the permanent record of money received."""

from __future__ import annotations

from django.contrib import admin

from invoicing.admin.common import ReadOnlyAdmin
from invoicing.models import Payment


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = ["document", "amount", "paid_on", "method", "reference", "recorded_by"]
    list_filter = ["method", "paid_on"]
    search_fields = ["document__display_number", "reference"]
    list_select_related = ["document", "recorded_by"]
    raw_id_fields = ["document"]
    show_full_result_count = False
    fields = ["document", "amount", "paid_on", "method", "reference", "recorded_by", "created_at"]
    readonly_fields = fields
