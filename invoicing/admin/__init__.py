"""Back-office screens for operators, documents, payments and billing runs.

Every button calls the invoicing services; what they refuse is shown as an error message.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.contrib import admin, messages
from django.contrib.admin.utils import display_for_value, unquote
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError
from django.db.models import Max
from django.forms.models import BaseInlineFormSet
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from kombu.exceptions import OperationalError as BrokerError

from cpo_portal.kernel.admin.exports import ExportAdminMixin
from cpo_portal.kernel.admin.lists import (
    DateRangeFilter,
    EstimatedCountPaginator,
    distinct_values,
    list_filter_media,
)
from customers.models import Customer
from invoicing.admin.documents import OUTPUT_INLINES, DocumentOutputsAdminMixin
from invoicing.admin.forms import (
    CreditNoteForm,
    InvoicingSettingsForm,
    NumberingSeriesForm,
    PaymentForm,
    RecipientCorrectionForm,
    StartBillingRunForm,
)
from invoicing.billing.runs import parse_period, queue_billing_run, rebill_customer
from invoicing.documents.issuing import (
    InvoicingError,
    correct_recipient_details,
    issue_credit_note,
    record_payment,
    today_for,
)
from invoicing.documents.numbering import ensure_series
from invoicing.models import (
    RECIPIENT_FIELDS,
    BilledSession,
    BillingRun,
    BillingRunError,
    Document,
    DocumentKind,
    DocumentLine,
    DocumentStatus,
    InvoicingSettings,
    NumberingSeries,
    Operator,
    Payment,
    RecipientCorrection,
)

logger = logging.getLogger(__name__)

INLINE_ROWS_SHOWN = 200
FAILURES_NAMED = 10
ACTION_TEMPLATE = "admin/invoicing/action_form.html"
# The supplier block as printed: keys of IssuingProfile.supplier per line, and their label.
SUPPLIER_LINES = [
    (("legal_name",), ""),
    (("street",), ""),
    (("postal_code", "city"), ""),
    (("country",), ""),
    (("vat_id",), _("VAT ID")),
    (("tax_number",), _("Tax number")),
    (("email",), _("E-mail")),
    (("phone",), _("Phone")),
    (("bank_details",), _("Payment information")),
]


def hours_minutes(seconds: int | float | None) -> str:
    """Seconds as h:mm (negative on credit notes)."""
    if seconds is None:
        return "-"
    sign = "-" if seconds < 0 else ""
    minutes = int(abs(seconds)) // 60
    return f"{sign}{minutes // 60}:{minutes % 60:02d}"


def change_url(obj) -> str:
    opts = obj._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])


def admin_link(obj) -> str:
    return format_html('<a href="{}">{}</a>', change_url(obj), obj)


class ReadOnlyInline(admin.TabularInline):
    """A table of facts that belong to the parent: shown, never edited here."""

    extra = 0
    can_delete = False

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class FirstRowsFormSet(BaseInlineFormSet):
    """Shows only the first rows: a monthly document or a run can have thousands of them."""

    def get_queryset(self):
        if not hasattr(self, "_queryset"):
            self._queryset = super().get_queryset()[:INLINE_ROWS_SHOWN]
        return self._queryset


class FirstRowsInline(ReadOnlyInline):
    formset = FirstRowsFormSet

    def total_rows(self, obj) -> int:
        raise NotImplementedError

    def get_formset(self, request, obj=None, **kwargs):
        # A new inline instance is made per request, so the title may say what is left out.
        if obj is not None and self.total_rows(obj) > INLINE_ROWS_SHOWN:
            self.verbose_name_plural = _("%(name)s (first %(shown)d of %(total)d)") % {
                "name": self.model._meta.verbose_name_plural,
                "shown": INLINE_ROWS_SHOWN,
                "total": self.total_rows(obj),
            }
        return super().get_formset(request, obj, **kwargs)


# --- operators -------------------------------------------------------------------------------


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
    fields = ["kind", "prefix", "next_number", "padding", "next_document", "last_issued"]
    readonly_fields = ["kind", "next_document", "last_issued"]
    extra = 0
    can_delete = False
    verbose_name_plural = _("document numbering")

    def get_formset(self, request, obj=None, **kwargs):
        if obj is not None:
            ensure_series(operator=obj)  # every kind shows, even before its first document
        return super().get_formset(request, obj, **kwargs)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(last_number=Max("documents__number"))

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
        InvoicingSettings.objects.get_or_create(operator=form.instance)
        ensure_series(operator=form.instance)


# --- documents -------------------------------------------------------------------------------


class DocumentLineInline(ReadOnlyInline):
    model = DocumentLine
    fields = [
        "position",
        "service",
        "description",
        "session_link",
        "quantity",
        "unit",
        "unit_price",
        "net",
        "vat_category",
        "vat_rate",
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("session")

    @admin.display(description=_("session"))
    def session_link(self, obj):
        return admin_link(obj.session) if obj.session_id else "-"


class BilledSessionInline(FirstRowsInline):
    model = BilledSession
    verbose_name = _("billed session")
    verbose_name_plural = _("billed sessions")
    fields = ["session_link", "started_at", "ended_at", "energy", "gross", "is_reversed"]

    def total_rows(self, obj):
        return obj.session_count

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("session").order_by("session_id")

    @admin.display(description=_("session"))
    def session_link(self, obj):
        return admin_link(obj.session)

    # Computed columns are shown as returned, so dates are formatted here.
    @admin.display(description=_("start"))
    def started_at(self, obj):
        return display_for_value(obj.session.started_at, "-")

    @admin.display(description=_("end"))
    def ended_at(self, obj):
        return display_for_value(obj.session.ended_at, "-")

    @admin.display(description=_("energy (kWh)"))
    def energy(self, obj):
        return obj.session.energy_kwh

    @admin.display(description=_("total incl. VAT"))
    def gross(self, obj):
        return f"{obj.session.total_gross} {obj.session.currency}"


class PaymentInline(ReadOnlyInline):
    model = Payment
    fields = ["paid_on", "amount", "method", "reference", "recorded_by", "created_at"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("recorded_by")


def describe_values(values: dict) -> str:
    """Changed recipient fields as "label: value" lines (table cells wrap them in <p>)."""
    return format_html_join(
        mark_safe("<br>"),  # a constant tag
        "{}: {}",
        (
            (capfirst(Document._meta.get_field(name).verbose_name), value or "-")
            for name, value in values.items()
        ),
    )


class RecipientCorrectionInline(ReadOnlyInline):
    model = RecipientCorrection
    verbose_name_plural = _("recipient corrections")
    fields = ["corrected_at", "corrected_by_name", "reason", "old", "new"]

    @admin.display(description=_("old values"))
    def old(self, obj):
        return describe_values(obj.old_values)

    @admin.display(description=_("new values"))
    def new(self, obj):
        return describe_values(obj.new_values)


class CustomerKindFilter(admin.SimpleListFilter):
    title = _("customer kind")
    parameter_name = "customer_kind"

    def lookups(self, request, model_admin):
        return Customer.Kind.choices

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(customer__kind=self.value())
        return queryset


class RecipientCountryFilter(admin.SimpleListFilter):
    """The recipients' countries, found with one index probe per country (not a DISTINCT)."""

    title = _("recipient country")
    parameter_name = "recipient_country"

    def lookups(self, request, model_admin):
        return [
            (code, code or _("(none)")) for code in distinct_values(Document, "recipient_country")
        ]

    def queryset(self, request, queryset):
        if self.value() is not None:
            return queryset.filter(recipient_country=self.value())
        return queryset


@admin.register(Document)
class DocumentAdmin(DocumentOutputsAdminMixin, ExportAdminMixin, admin.ModelAdmin):
    """Issued documents are final: they are corrected by credit notes, never edited."""

    exports = (
        ("invoices", _("documents"), _("Export selected documents as %(format)s")),
        ("lines", _("document lines"), _("Export lines of selected documents as %(format)s")),
    )

    list_display = [
        "display_number",
        "kind",
        "customer",
        "status",
        "issue_date",
        "due_date",
        "total_net",
        "total_vat",
        "total_gross",
        "currency",
        "total_energy_kwh",
        "pdf_link",
    ]
    # At a million documents every filter is an index scan and builds its choices without
    # scanning the table (docs/operations.md, "Admin lists at scale").
    list_filter = [
        "status",
        "kind",
        ("issue_date", DateRangeFilter),
        CustomerKindFilter,
        RecipientCountryFilter,
        "origin",
        "operator",
    ]
    search_fields = ["display_number", "recipient_name", "recipient_email", "recipient_vat_id"]
    search_help_text = _(
        "The beginning of a number, recipient name or e-mail (any case), or a whole VAT ID."
    )
    list_select_related = ["customer"]
    raw_id_fields = ["operator", "customer", "billing_run", "credited_document", "series"]
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER  # a count per filter choice over the whole list
    inlines = [
        DocumentLineInline,
        BilledSessionInline,
        PaymentInline,
        RecipientCorrectionInline,
        *OUTPUT_INLINES,
    ]
    actions = [
        "credit_selected",
        "correct_selected",
        "pay_selected",
        "resend_email",
        "rerender_pdf",
    ]
    fieldsets = [
        (
            _("Document"),
            {
                "fields": [
                    "display_number",
                    "kind",
                    "status",
                    "origin",
                    "operator",
                    "customer",
                    "billing_run",
                    "issue_date",
                    "due_date",
                    ("period_start", "period_end"),
                    "language",
                    "currency",
                    "issued_at",
                ]
            },
        ),
        (_("Recipient"), {"fields": list(RECIPIENT_FIELDS)}),
        (_("Supplier"), {"fields": ["supplier"]}),
        (
            _("Amounts"),
            {
                "fields": [
                    "vat_table",
                    "total_net",
                    "total_vat",
                    "total_gross",
                    "amount_paid",
                    "outstanding_amount",
                    "paid_on",
                ]
            },
        ),
        (
            _("Delivery"),
            {"fields": ["session_count", "total_energy_kwh", "duration", "delivery_country"]},
        ),
        (_("Credit notes"), {"fields": ["credited_document", "reason", "credit_note_links"]}),
    ]
    readonly_fields = [
        field
        for _title, options in fieldsets
        for entry in options["fields"]
        for field in (entry if isinstance(entry, tuple) else (entry,))
    ]

    @property
    def media(self):
        return super().media + list_filter_media()

    def get_search_results(self, request, queryset, search_term):
        # The whole term, prefix-anchored: Django's default (every word in every field,
        # anywhere) is a sequential scan over all documents.
        return queryset.search(search_term), False

    def has_add_permission(self, request):
        return False  # documents are issued by the services, from sessions

    def has_change_permission(self, request, obj=None):
        return False  # issued documents never change; the buttons correct them lawfully

    def has_delete_permission(self, request, obj=None):
        return False

    def has_correct_permission(self, request, obj=None):
        return request.user.has_perm("invoicing.change_document")

    def has_pay_permission(self, request, obj=None):
        return request.user.has_perm("invoicing.add_payment")

    # --- detail fields -----------------------------------------------------------------------

    @admin.display(description=_("supplier"))
    def supplier(self, obj):
        data = obj.profile.supplier
        lines = []
        for keys, label in SUPPLIER_LINES:
            value = " ".join(str(data.get(key) or "") for key in keys).strip()
            if value:
                lines.append(f"{label}: {value}" if label else value)
        return format_html_join("", "<div>{}</div>", ((line,) for line in lines))

    @admin.display(description=_("VAT summary"))
    def vat_table(self, obj):
        if not obj.vat_summary:
            return "-"
        rows = format_html_join(
            "",
            "<tr><td>{} %</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (row.get("rate"), row.get("net"), row.get("vat"), row.get("gross", ""))
                for row in obj.vat_summary
            ),
        )
        return format_html(
            "<table><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead>"
            "<tbody>{}</tbody></table>",
            _("VAT rate"),
            _("net"),
            _("VAT"),
            _("gross"),
            rows,
        )

    @admin.display(description=_("still due"))
    def outstanding_amount(self, obj):
        if obj.kind == DocumentKind.CREDIT_NOTE:
            return "-"
        return obj.outstanding

    @admin.display(description=_("total duration (h:mm)"))
    def duration(self, obj):
        return hours_minutes(obj.total_duration_seconds)

    @admin.display(description=_("credited by"))
    def credit_note_links(self, obj):
        notes = obj.credit_notes.order_by("pk")
        return format_html_join(", ", "{}", ((admin_link(note),) for note in notes)) or "-"

    # --- buttons -----------------------------------------------------------------------------

    def document_buttons(self, request, document) -> list[tuple[str, str]]:
        """Which corrections the detail page offers; the services still decide on each."""
        buttons = []
        is_credit_note = document.kind == DocumentKind.CREDIT_NOTE
        if self.has_correct_permission(request):
            if not is_credit_note and document.status != DocumentStatus.CREDITED:
                buttons.append(("credit_note", _("Issue credit note")))
            buttons.append(("correct_recipient", _("Correct recipient details")))
        if (
            self.has_pay_permission(request)
            and not is_credit_note
            and document.status in (DocumentStatus.ISSUED, DocumentStatus.OVERDUE)
        ):
            buttons.append(("record_payment", _("Record payment")))
        return [(self.action_url(name, document), label) for name, label in buttons]

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["document_buttons"] = self.document_buttons(request, obj)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def action_url(self, name: str, document) -> str:
        opts = self.opts
        return reverse(f"admin:{opts.app_label}_{opts.model_name}_{name}", args=[document.pk])

    def get_urls(self):
        opts = self.opts
        views = [
            ("credit-note", "credit_note", self.credit_note_view),
            ("correct-recipient", "correct_recipient", self.correct_recipient_view),
            ("record-payment", "record_payment", self.record_payment_view),
        ]
        return [
            *(
                path(
                    f"<path:object_id>/{slug}/",
                    self.admin_site.admin_view(view),
                    name=f"{opts.app_label}_{opts.model_name}_{name}",
                )
                for slug, name, view in views
            ),
            *super().get_urls(),
        ]

    # --- action pages ------------------------------------------------------------------------

    def document_action_view(
        self, request, object_id, *, form_class, title, submit, permitted, perform
    ):
        """Show the form; on a valid POST call the service, on refusal show why and stay."""
        document = self.get_object(request, unquote(object_id))
        if document is None:
            raise Http404(_("No document with this ID."))
        if not (self.has_view_permission(request, document) and permitted(request)):
            raise PermissionDenied
        data = request.POST if request.method == "POST" else None
        form = form_class(data, document=document)
        if form.is_bound and form.is_valid():
            try:
                message, target = perform(request, document, form)
            except InvoicingError as exc:
                self.message_user(request, str(exc), messages.ERROR)
            else:
                self.message_user(request, message, messages.SUCCESS)
                return HttpResponseRedirect(change_url(target))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": document,
            "title": title,
            "subtitle": str(document),
            "summary": [
                (_("Document"), f"{document.get_kind_display()} {document}"),
                (_("Status"), document.get_status_display()),
                (_("Customer"), document.customer),
                (_("Issue date"), document.issue_date),
                (_("Total incl. VAT"), f"{document.total_gross} {document.currency}"),
                (_("Paid"), f"{document.amount_paid} {document.currency}"),
            ],
            "form": form,
            "media": self.media + form.media,
            "submit_label": submit,
            "cancel_url": change_url(document),
        }
        return TemplateResponse(request, ACTION_TEMPLATE, context)

    def credit_note_view(self, request, object_id):
        return self.document_action_view(
            request,
            object_id,
            form_class=CreditNoteForm,
            title=_("Issue a credit note"),
            submit=_("Issue credit note"),
            permitted=self.has_correct_permission,
            perform=self.perform_credit_note,
        )

    def perform_credit_note(self, request, document, form):
        data = form.cleaned_data
        credit_note, replacement = issue_credit_note(
            document=document, reason=data["reason"], reissue=data["reissue"]
        )
        self.log_change(request, document, f"Credited by {credit_note}: {data['reason']}")
        message = format_html(
            str(_("Credit note {credit_note} issued; {document} is credited.")),
            credit_note=admin_link(credit_note),
            document=admin_link(document),
        )
        if replacement is not None:
            message = format_html(
                str(_("{message} Replacement: {replacement}.")),
                message=message,
                replacement=admin_link(replacement),
            )
        return message, credit_note

    def correct_recipient_view(self, request, object_id):
        return self.document_action_view(
            request,
            object_id,
            form_class=RecipientCorrectionForm,
            title=_("Correct recipient details"),
            submit=_("Correct recipient details"),
            permitted=self.has_correct_permission,
            perform=self.perform_correction,
        )

    def perform_correction(self, request, document, form):
        correction = correct_recipient_details(
            document=document,
            changes=form.changes(),
            reason=form.cleaned_data["reason"],
            corrected_by=request.user,
        )
        fields = ", ".join(
            str(Document._meta.get_field(name).verbose_name) for name in correction.new_values
        )
        self.log_change(request, document, f"Recipient details corrected ({fields}).")
        return _("Recipient details of %(document)s corrected: %(fields)s.") % {
            "document": document,
            "fields": fields,
        }, document

    def record_payment_view(self, request, object_id):
        return self.document_action_view(
            request,
            object_id,
            form_class=PaymentForm,
            title=_("Record a payment"),
            submit=_("Record payment"),
            permitted=self.has_pay_permission,
            perform=self.perform_payment,
        )

    def perform_payment(self, request, document, form):
        data = form.cleaned_data
        payment = record_payment(
            document=document,
            amount=data["amount"],
            paid_on=data["paid_on"],
            method=data["method"],
            reference=data["reference"],
            recorded_by=request.user,
        )
        self.log_change(request, document, f"Payment of {payment.amount} recorded.")
        if document.status == DocumentStatus.PAID:
            message = _("Payment of %(amount)s %(currency)s recorded; %(document)s is paid.")
        else:
            message = _(
                "Payment of %(amount)s %(currency)s recorded; %(due)s %(currency)s still due on "
                "%(document)s."
            )
        return message % {
            "amount": payment.amount,
            "currency": document.currency,
            "due": document.outstanding,
            "document": document,
        }, document

    # --- changelist actions: open the page of the one selected document ---------------------

    def redirect_to_action(self, request, queryset, name):
        ids = list(queryset.values_list("pk", flat=True)[:2])
        if len(ids) != 1:
            self.message_user(
                request, _("Select exactly one document for this action."), messages.WARNING
            )
            return None
        return HttpResponseRedirect(self.action_url(name, Document(pk=ids[0])))

    @admin.action(
        description=_("Issue a credit note for the selected document"), permissions=["correct"]
    )
    def credit_selected(self, request, queryset):
        return self.redirect_to_action(request, queryset, "credit_note")

    @admin.action(
        description=_("Correct recipient details of the selected document"), permissions=["correct"]
    )
    def correct_selected(self, request, queryset):
        return self.redirect_to_action(request, queryset, "correct_recipient")

    @admin.action(description=_("Record a payment for the selected document"), permissions=["pay"])
    def pay_selected(self, request, queryset):
        return self.redirect_to_action(request, queryset, "record_payment")


class ReadOnlyAdmin(admin.ModelAdmin):
    """A permanent record: listed and shown, never added, changed or deleted here."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


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


@admin.register(RecipientCorrection)
class RecipientCorrectionAdmin(ReadOnlyAdmin):
    list_display = ["document", "corrected_at", "corrected_by_name", "reason"]
    search_fields = ["document__display_number", "corrected_by_name"]
    list_select_related = ["document"]
    raw_id_fields = ["document"]
    show_full_result_count = False
    fields = ["document", "corrected_at", "corrected_by_name", "reason", "old", "new"]
    readonly_fields = fields

    @admin.display(description=_("old values"))
    def old(self, obj):
        return describe_values(obj.old_values)

    @admin.display(description=_("new values"))
    def new(self, obj):
        return describe_values(obj.new_values)


# --- billing runs ----------------------------------------------------------------------------


class BillingRunErrorInline(FirstRowsInline):
    model = BillingRunError
    verbose_name = _("customer not billed")
    verbose_name_plural = _("customers not billed")
    fields = ["customer", "message", "created_at"]

    def total_rows(self, obj):
        return obj.customers_failed

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("customer")


def format_timedelta(value: timedelta | None) -> str:
    if value is None:
        return "-"
    seconds = int(value.total_seconds())
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


@admin.register(BillingRun)
class BillingRunAdmin(admin.ModelAdmin):
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
        "started_at",
        "finished_at",
        "duration",
    ]
    list_filter = ["status", "operator"]
    list_select_related = ["operator"]
    show_full_result_count = False
    inlines = [BillingRunErrorInline]
    actions = ["rebill_failed_customers"]
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
            _("Progress"),
            {
                "fields": [
                    "customers_total",
                    "customers_billed",
                    "customers_failed",
                    "documents",
                    "sessions_billed",
                    "chunks",
                ]
            },
        ),
    ]
    readonly_fields = [field for _title, options in fieldsets for field in options["fields"]]

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
        return format_timedelta(obj.duration)

    @admin.display(description=_("documents issued"))
    def documents(self, obj):
        url = reverse("admin:invoicing_document_changelist") + f"?billing_run__id__exact={obj.pk}"
        return format_html('<a href="{}">{}</a>', url, obj.documents_issued)

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
            except InvoicingError as exc:
                self.message_user(request, str(exc), messages.ERROR)
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
        first = today_for(operator).replace(day=1)
        previous = (first - timedelta(days=1)).replace(day=1)
        return {"operator": operator.pk, "period": f"{previous:%Y-%m}"}

    def started_message(self, run: BillingRun) -> str:
        if run.chunks_total == 0:
            return _("%(run)s: nothing left to bill.") % {"run": run}
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
        errors = list(run.errors.select_related("customer").order_by("customer_id"))
        if not errors:
            self.message_user(
                request, _("%(run)s has no failed customers.") % {"run": run}, messages.WARNING
            )
            return
        billed = documents = 0
        failures: dict[str, str] = {}
        for error in errors:
            customer = error.customer
            try:
                result = rebill_customer(run=run, customer=customer)
            except (InvoicingError, DatabaseError) as exc:
                # The run's own chunks treat a database refusal as that customer's failure too.
                logger.warning("Re-billing %s in %s failed: %s", customer, run, exc)
                failures[str(customer)] = str(exc)
                continue
            billed += result.customers_billed
            documents += result.documents
            if result.errors and customer.pk in result.errors:
                failures[str(customer)] = result.errors[customer.pk]
        if len(failures) < len(errors):
            self.log_change(request, run, f"Failed customers billed again: {billed} billed.")
            issued = ngettext("%d document issued", "%d documents issued", documents) % documents
            self.message_user(
                request,
                _("%(run)s: billed %(billed)d of %(tried)d failed customers again (%(issued)s).")
                % {"run": run, "billed": billed, "tried": len(errors), "issued": issued},
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


from cpo_portal.kernel.admin import integrations  # noqa: E402,F401  (integrators, API keys, webhooks)
