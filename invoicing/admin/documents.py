"""Back-office screens for documents: read-only documents corrected through buttons that call
the services (credit note, recipient correction, payment), their PDFs and e-mails.

The PDF is always the stored file: a request never renders one; "re-render" and "re-send"
queue Celery tasks and say so.
"""

from __future__ import annotations

import logging

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from cpo_portal.kernel import formatting
from cpo_portal.kernel.admin.errors import show_domain_error
from cpo_portal.kernel.admin.exports import ExportAdminMixin
from cpo_portal.kernel.admin.lists import (
    DateRangeFilter,
    EstimatedCountPaginator,
    distinct_values,
    list_filter_media,
)
from cpo_portal.kernel.admin.times import LocalTimesAdminMixin, local_time_column
from cpo_portal.kernel.errors import DomainError
from cpo_portal.kernel.files import bytes_response, file_response
from cpo_portal.kernel.periods import operator_time_zone, session_time_zone
from customers.models import Customer
from invoicing.admin.common import (
    ACTION_TEMPLATE,
    FirstRowsInline,
    ReadOnlyAdmin,
    ReadOnlyInline,
    admin_link,
    change_url,
    hours_minutes,
)
from invoicing.admin.forms import (
    CreditNoteForm,
    DocumentActionForm,
    PaymentForm,
    RecipientCorrectionForm,
    WithdrawalForm,
)
from invoicing.documents import actions
from invoicing.documents.actions import DocumentActionRefused, allowed_actions, require_action
from invoicing.documents.issuing import (
    correct_recipient_details,
    issue_credit_note,
    withdraw_pro_forma,
)
from invoicing.models import (
    RECIPIENT_FIELDS,
    BilledSession,
    Document,
    DocumentFile,
    DocumentKind,
    DocumentLine,
    DocumentStatus,
    EInvoice,
    EmailDelivery,
    Payment,
    RecipientCorrection,
    RenderFailure,
)
from invoicing.output import document_messages
from invoicing.output import emails as delivery
from invoicing.output import pipeline as outputs
from invoicing.payments.recording import record_payment
from invoicing.payments.refunds import refund_credit_note

logger = logging.getLogger(__name__)

# The services a document's list row names (rounding is no service a client bought).
LISTED_SERVICES = [
    code for code in DocumentLine.Service.values if code != DocumentLine.Service.ROUNDING
]


class _ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class DocumentFileInline(_ReadOnlyInline):
    """Every rendered revision of the PDF, each downloadable; the newest is what customers get."""

    model = DocumentFile
    fk_name = "document"
    fields = ["revision", "reason", "rendered_at", "rendered_by", "size", "sha256", "download"]
    readonly_fields = fields
    ordering = ["-revision"]
    verbose_name = _("PDF revision")
    verbose_name_plural = _("PDF revisions")

    @admin.display(description=_("PDF"))
    def download(self, obj):
        if not obj.pk:
            return "-"
        url = reverse("admin:invoicing_document_pdf_revision", args=[obj.document_id, obj.revision])
        return format_html('<a href="{}">{}</a>', url, _("download"))


class EmailDeliveryInline(_ReadOnlyInline):
    """E-mails of the document sent before the outbox took them over (kept as they were)."""

    model = EmailDelivery
    fk_name = "document"
    fields = [
        "recipient",
        "language",
        "status",
        "attempts",
        "last_error",
        "is_resend",
        "requested_by",
        "queued_at",
        "sent_at",
        "document_file",
    ]
    readonly_fields = fields
    ordering = ["-queued_at", "-id"]
    verbose_name = _("earlier e-mail delivery")
    verbose_name_plural = _("earlier e-mail deliveries")


class RenderFailureInline(_ReadOnlyInline):
    """Why a PDF could not be rendered (fix the cause, then re-render)."""

    model = RenderFailure
    fields = ["occurred_at", "reason", "error"]
    readonly_fields = fields


OUTPUT_INLINES = [DocumentFileInline, EmailDeliveryInline, RenderFailureInline]


class DocumentOutputsAdminMixin:
    """Adds to the Document admin: PDF download URLs, a PDF column, re-render and re-send."""

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<path:object_id>/pdf/", view(self.pdf_view), name="invoicing_document_pdf"),
            path(
                "<path:object_id>/pdf/<int:revision>/",
                view(self.pdf_view),
                name="invoicing_document_pdf_revision",
            ),
            path(
                "<path:object_id>/einvoice/",
                view(self.einvoice_view),
                name="invoicing_document_einvoice",
            ),
            *super().get_urls(),
        ]

    def pdf_view(self, request, object_id, revision=None):
        """The stored PDF (newest, or a given revision); never rendered here."""
        document = self.get_object(request, unquote(object_id))
        if document is None or not self.has_view_permission(request, document):
            raise Http404("No such document.")
        files = document.files.order_by("-revision")
        document_file = files.filter(revision=revision).first() if revision else files.first()
        if document_file is None:
            self.message_user(
                request,
                _("%(document)s has no PDF yet; it is being rendered (or see the failures below).")
                % {"document": document},
                messages.WARNING,
            )
            return HttpResponseRedirect(
                reverse("admin:invoicing_document_change", args=[document.pk])
            )
        return file_response(
            document_file.file, delivery.attachment_name(document), content_type="application/pdf"
        )

    def einvoice_view(self, request, object_id):
        """The e-invoice XML as issued."""
        document = self.get_object(request, unquote(object_id))
        if document is None or not self.has_view_permission(request, document):
            raise Http404("No such document.")
        einvoice = EInvoice.objects.filter(document=document).select_related("document").first()
        if einvoice is None:
            raise Http404("This document was issued without an e-invoice.")
        return bytes_response(
            bytes(einvoice.xml), einvoice.filename, content_type="application/xml"
        )

    @admin.display(description=_("e-invoice"))
    @admin.display(description=_("messages"))
    def outbox_messages(self, obj):
        """The document's e-mails and texts in the outbox: to whom, how it went, the log entry."""
        if not obj.pk:
            return "-"
        messages = document_messages.messages_of(obj.pk).order_by("-created_at", "-id")[:50]
        rows = format_html_join(
            "",
            '<li><a href="{}">#{}</a> {} · {} · {} · {} · {}{}</li>',
            (
                (
                    reverse("admin:customers_outboundmessage_change", args=[message.pk]),
                    message.pk,
                    message.get_event_display(),
                    message.get_channel_display(),
                    message.recipient or "-",
                    message.get_status_display(),
                    f"{_('attempts')}: {message.attempt_count}",
                    f" · {message.last_error}" if message.last_error else "",
                )
                for message in messages
            ),
        )
        return format_html("<ul>{}</ul>", rows) if rows else self.get_empty_value_display()

    def einvoice_summary(self, obj):
        """Format, validation outcome per rule set (with versions) and the XML download."""
        einvoice = EInvoice.objects.filter(document=obj).first() if obj.pk else None
        if einvoice is None:
            return _("None (PDF only)")
        url = reverse("admin:invoicing_document_einvoice", args=[obj.pk])
        report = einvoice.report
        rows = format_html_join(
            "",
            "<li>{}: {} ({} warnings)</li>",
            (
                (
                    found["version"],
                    _("passed")
                    if not [f for f in found["findings"] if f["flag"] not in ("warning",)]
                    else _("failed"),
                    len([f for f in found["findings"] if f["flag"] == "warning"]),
                )
                for found in report.get("rule_sets", {}).values()
            ),
        )
        return format_html(
            '<div>{} — <a href="{}">XML</a> (SHA-256 {}…)</div><div>{}</div><ul>{}</ul>',
            einvoice.get_format_display(),
            url,
            einvoice.sha256[:16],
            _("XML Schema: passed") if not report.get("schema_errors") else _("XML Schema: failed"),
            rows,
        )

    @admin.display(description=_("PDF"))
    def pdf_link(self, obj):
        if not obj.pk or not obj.is_issued:
            return "-"
        url = reverse("admin:invoicing_document_pdf", args=[obj.pk])
        return format_html('<a href="{}" target="_blank">PDF</a>', url)

    def has_resend_permission(self, request, obj=None):
        # The back-office roles grant re-sending as "add e-mail delivery" (support may re-send).
        return request.user.has_perm("invoicing.add_emaildelivery") or request.user.has_perm(
            "customers.add_outboundmessage"
        )

    def has_rerender_permission(self, request, obj=None):
        return request.user.has_perm("invoicing.add_documentfile")

    @admin.action(description=_("Re-send the PDF by e-mail"), permissions=["resend"])
    def resend_email(self, request, queryset):
        queued, problems = 0, []
        for document in queryset.select_related("profile"):
            try:
                require_action(document, actions.RESEND)
                document_messages.resend(document=document)
            except (DocumentActionRefused, delivery.DeliveryError) as exc:
                problems.append(str(exc))
            else:
                queued += 1
        if queued:
            self.message_user(
                request,
                ngettext(
                    "%(count)d e-mail queued; its status shows on the document.",
                    "%(count)d e-mails queued; their status shows on the documents.",
                    queued,
                )
                % {"count": queued},
                messages.SUCCESS,
            )
        for problem in problems[:10]:
            self.message_user(request, problem, messages.ERROR)

    @admin.action(description=_("Re-render the PDF"), permissions=["rerender"])
    def rerender_pdf(self, request, queryset):
        queued = failed = 0
        for document in queryset:
            if actions.RERENDER not in allowed_actions(document):
                continue
            if outputs.request_rerender(document=document, requested_by=request.user):
                queued += 1
            else:
                failed += 1
        if queued:
            self.message_user(
                request,
                ngettext(
                    "%(count)d PDF is being rendered; a new revision appears only if it changed.",
                    "%(count)d PDFs are being rendered; new revisions appear only if they changed.",
                    queued,
                )
                % {"count": queued},
                messages.SUCCESS,
            )
        if failed:
            self.message_user(
                request,
                _("The task queue is unreachable; %(count)d PDF(s) were not queued.")
                % {"count": failed},
                messages.ERROR,
            )


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
        queryset = super().get_queryset(request).select_related("session__evse__location")
        return queryset.order_by("session_id")

    @admin.display(description=_("session"))
    def session_link(self, obj):
        return admin_link(obj.session)

    # A session's times are its location's, whatever the page's clock (kernel/periods.py).
    started_at = local_time_column(
        "session__started_at",
        _("start (location time)"),
        lambda billed: session_time_zone(billed.session),
    )
    ended_at = local_time_column(
        "session__ended_at",
        _("end (location time)"),
        lambda billed: session_time_zone(billed.session),
    )

    @admin.display(description=_("energy (kWh)"))
    def energy(self, obj):
        return obj.session.energy_kwh

    @admin.display(description=_("total incl. VAT"))
    def gross(self, obj):
        return formatting.amount(obj.session.total_gross, obj.session.currency, localized=False)


class PaymentInline(ReadOnlyInline):
    """The document's payments and what was taken back, each with the transaction it came
    from (its provider, kind and reference)."""

    model = Payment
    verbose_name_plural = _("payments and allocations")
    fields = [
        "paid_on",
        "amount",
        "method",
        "reference",
        "transaction_link",
        "provider",
        "recorded_by",
        "created_at",
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("recorded_by", "transaction")

    @admin.display(description=_("transaction"))
    def transaction_link(self, obj):
        return admin_link(obj.transaction)

    @admin.display(description=_("provider"))
    def provider(self, obj):
        return f"{obj.transaction.provider} {obj.transaction.provider_reference}"


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
class DocumentAdmin(
    LocalTimesAdminMixin, DocumentOutputsAdminMixin, ExportAdminMixin, admin.ModelAdmin
):
    """Issued documents are final: they are corrected by credit notes, never edited."""

    exports = (
        ("invoices", _("documents"), _("Export selected documents as %(format)s")),
        ("lines", _("document lines"), _("Export lines of selected documents as %(format)s")),
        (
            "open_items",
            _("open items"),
            _("Export open items of selected documents as %(format)s"),
        ),
    )

    # What staff look for in an invoice list: whose, paid or not, for what, how much. One
    # query for the page: the client is the recipient as issued, the services an aggregate.
    list_display = [
        "display_number",
        "kind",
        "client",
        "payment_status",
        "issue_date",
        "due_date",
        "services",
        "energy",
        "total_net",
        "total_vat",
        "total",
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
        "Any part of the recipient's name (from three letters), the beginning of a number or"
        " e-mail (any case), or a whole VAT ID."
    )
    list_select_related = []
    time_zone_note = _(
        "Dates and times on this page are the operator's, %(zone)s; a session's times are its"
        " location's."
    )

    def time_zone_of(self, obj):
        return operator_time_zone(obj)

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
        (
            _("Withdrawal"),
            {"fields": ["withdrawn_at", "withdrawn_by_name", "withdrawal_reason"]},
        ),
        (_("E-invoice"), {"fields": ["einvoice_summary"]}),
        (_("Card payment"), {"fields": ["card_payment_summary"]}),
        (_("Messages"), {"fields": ["outbox_messages"]}),
    ]
    readonly_fields = [
        field
        for _title, options in fieldsets
        for entry in options["fields"]
        for field in (entry if isinstance(entry, tuple) else (entry,))
    ]

    @admin.display(description=_("card payment"))
    def card_payment_summary(self, obj: Document) -> str:
        """The card-terminal payment frozen on a receipt when it was issued."""
        card = obj.card_payment
        if not card:
            return self.get_empty_value_display()
        return (
            f"{card.get('brand')} •••• {card.get('last4')} · {card.get('amount')} "
            f"{card.get('currency')} · {_('terminal')} {card.get('terminal_id')} · "
            f"{_('authorization code')} {card.get('authorization_code')} · {card.get('at')} · "
            f"{card.get('evse_id')}"
        )

    @property
    def media(self):
        return super().media + list_filter_media()

    def get_queryset(self, request):
        # One probe of the document's lines per service, in the page's one query.
        return (
            super()
            .get_queryset(request)
            .annotate(
                **{
                    f"bills_{code}": Exists(
                        DocumentLine.objects.filter(document=OuterRef("pk"), service=code)
                    )
                    for code in LISTED_SERVICES
                }
            )
        )

    @admin.display(description=_("client (customer no.)"), ordering="recipient_name")
    def client(self, obj):
        url = reverse("admin:customers_customer_change", args=[obj.customer_id])
        return format_html('{} <a href="{}">#{}</a>', obj.recipient_name, url, obj.customer_id)

    @admin.display(description=_("payment"), ordering="status")
    def payment_status(self, obj):
        """Paid, partly paid (how much), open or overdue; drafts and credited ones say so."""
        if obj.kind == DocumentKind.CREDIT_NOTE or obj.status in (
            Document.Status.DRAFT,
            Document.Status.CREDITED,
            Document.Status.PAID,
        ):
            return obj.get_status_display()
        if obj.amount_paid:
            paid = _("%(paid)s of %(total)s paid") % {
                "paid": formatting.money(obj.amount_paid, currency=obj.currency),
                "total": formatting.money(obj.total_gross, currency=obj.currency),
            }
            return f"{obj.get_status_display()}, {paid}"
        return obj.get_status_display()

    @admin.display(description=_("services"))
    def services(self, obj):
        labels = dict(DocumentLine.Service.choices)
        return (
            ", ".join(
                str(labels[code])
                for code in LISTED_SERVICES
                if getattr(obj, f"bills_{code}", False)
            )
            or "-"
        )

    @admin.display(description=_("energy (kWh)"), ordering="total_energy_kwh")
    def energy(self, obj):
        return formatting.decimal_text(obj.total_energy_kwh, places=3)

    @admin.display(description=_("total incl. VAT"), ordering="total_gross")
    def total(self, obj):
        return formatting.amount(obj.total_gross, obj.currency)

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
        allowed = allowed_actions(document)
        buttons = []
        if self.has_correct_permission(request):
            if actions.CREDIT in allowed:
                buttons.append(("credit_note", _("Issue credit note")))
            if actions.WITHDRAW in allowed:
                buttons.append(("withdraw", _("Withdraw pro forma")))
            if actions.CORRECT_RECIPIENT in allowed:
                buttons.append(("correct_recipient", _("Correct recipient details")))
        if self.has_pay_permission(request) and actions.RECORD_PAYMENT in allowed:
            buttons.append(("record_payment", _("Record payment")))
        if (
            self.has_pay_permission(request)
            and document.kind == DocumentKind.CREDIT_NOTE
            and document.credited_document_id is not None
            and document.outstanding < 0
        ):
            buttons.append(("refund_credit_note", _("Refund this credit note")))
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
            ("withdraw", "withdraw", self.withdraw_view),
            ("correct-recipient", "correct_recipient", self.correct_recipient_view),
            ("record-payment", "record_payment", self.record_payment_view),
            ("refund", "refund_credit_note", self.refund_credit_note_view),
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
            except DomainError as exc:
                show_domain_error(self, request, exc)
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
                (
                    _("Total incl. VAT"),
                    formatting.amount(document.total_gross, document.currency, localized=False),
                ),
                (
                    _("Paid"),
                    formatting.amount(document.amount_paid, document.currency, localized=False),
                ),
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
            document=document,
            reason=data["reason"],
            reissue=data["reissue"],
            reprice=data["reprice"],
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

    def withdraw_view(self, request, object_id):
        return self.document_action_view(
            request,
            object_id,
            form_class=WithdrawalForm,
            title=_("Withdraw a pro forma invoice"),
            submit=_("Withdraw pro forma"),
            permitted=self.has_correct_permission,
            perform=self.perform_withdrawal,
        )

    def perform_withdrawal(self, request, document, form):
        reason = form.cleaned_data["reason"]
        withdraw_pro_forma(document=document, reason=reason, withdrawn_by=request.user)
        self.log_change(request, document, f"Withdrawn: {reason}")
        message = _("%(document)s is withdrawn; its sessions can be billed again.") % {
            "document": document
        }
        return message, document

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

    def refund_credit_note_view(self, request, object_id):
        return self.document_action_view(
            request,
            object_id,
            form_class=DocumentActionForm,
            title=_("Refund a credit note"),
            submit=_("Refund this credit note"),
            permitted=self.has_pay_permission,
            perform=self.perform_credit_note_refund,
        )

    def perform_credit_note_refund(self, request, document, form):
        """The credit note is paid out from the payments of the invoice it credits."""
        paid_back = refund_credit_note(credit_note=document, requested_by=request.user)
        total = sum(entry.amount for entry in paid_back)
        self.log_change(request, document, f"Refund of {total} requested.")
        document.refresh_from_db()
        return _(
            "Refund of %(amount)s %(currency)s requested in %(count)d transaction(s); "
            "%(document)s is %(status)s."
        ) % {
            "amount": total,
            "currency": document.currency,
            "count": len(paid_back),
            "document": document,
            "status": document.get_status_display(),
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


@admin.register(RecipientCorrection)
class RecipientCorrectionAdmin(ReadOnlyAdmin):
    list_display = ["document", "corrected_at", "corrected_by_name", "reason"]
    search_fields = ["document__display_number", "corrected_by_name"]
    list_select_related = ["document"]
    show_full_result_count = False
    fields = ["document", "corrected_at", "corrected_by_name", "reason", "old", "new"]
    readonly_fields = fields

    @admin.display(description=_("old values"))
    def old(self, obj):
        return describe_values(obj.old_values)

    @admin.display(description=_("new values"))
    def new(self, obj):
        return describe_values(obj.new_values)
