"""Back-office screens for the payment ledger: transactions as their providers reported them,
their allocations to documents, refunds through the provider that received the money."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import FileResponse, Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from cpo_portal.kernel import formatting
from cpo_portal.kernel.admin.errors import show_domain_error
from cpo_portal.kernel.admin.exports import ExportAdminMixin
from cpo_portal.kernel.admin.lists import (
    DateRangeFilter,
    EstimatedCountPaginator,
    UnitedSearch,
    distinct_values,
    list_filter_media,
)
from cpo_portal.kernel.errors import DomainError, InvalidInput
from cpo_portal.kernel.search import united
from customers.models import Customer
from invoicing.admin.common import ACTION_TEMPLATE, ReadOnlyAdmin, ReadOnlyInline, admin_link
from invoicing.models import Document, Operator, Payment
from invoicing.payments import collections, ledger, mandates, refunds
from invoicing.payments.models import (
    INCOMING_KINDS,
    CollectionRun,
    MandateSource,
    PaymentTransaction,
    SepaMandate,
    TransactionKind,
    TransactionStatus,
)


@admin.register(Payment)
class PaymentAdmin(UnitedSearch, ReadOnlyAdmin):
    """Allocations: which part of which transaction paid (or took back from) which document."""

    list_display = ["document", "amount", "paid_on", "method", "transaction", "reference"]
    list_filter = ["method", "paid_on"]
    search_fields = ["document__display_number", "reference"]
    search_help_text = _(
        "The beginning of a document number, or the provider's reference of the payment."
    )
    list_select_related = ["document", "transaction"]
    show_full_result_count = False
    fields = [
        "document",
        "transaction",
        "amount",
        "paid_on",
        "method",
        "reference",
        "recorded_by",
        "created_at",
    ]
    readonly_fields = fields

    def search_probes(self, term):
        # Not `icontains` over every allocation joined with its document (1 s at 900,000).
        allocations = Payment.objects.values("pk")
        numbered = Document.objects.filter(
            Q(display_number__startswith=term) | Q(display_number__startswith=term.upper())
        ).values("pk")
        return united(
            allocations.filter(document__in=numbered),
            allocations.filter(transaction__provider_reference=term),
        )


class UnallocatedFilter(admin.SimpleListFilter):
    """Money received that no document used yet: the customers' credit, or a transfer to
    assign."""

    title = _("unallocated money")
    parameter_name = "unallocated"

    def lookups(self, request, model_admin):
        return [("yes", _("Has unallocated money")), ("no", _("Fully allocated"))]

    def queryset(self, request, queryset):
        if self.value() not in ("yes", "no"):
            return queryset
        incoming = queryset.filter(kind__in=INCOMING_KINDS, status=TransactionStatus.SUCCEEDED)
        incoming = incoming.annotate(left=ledger.unallocated_sql())
        if self.value() == "yes":
            return incoming.filter(left__gt=0)
        return incoming.filter(left__lte=0)


class DistinctValuesFilter(admin.SimpleListFilter):
    """A column's values found with one index probe per value (not a DISTINCT)."""

    field_name = ""

    def lookups(self, request, model_admin):
        return [(value, value) for value in distinct_values(PaymentTransaction, self.field_name)]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(**{self.field_name: self.value()})
        return queryset


class ProviderFilter(DistinctValuesFilter):
    title = _("provider")
    parameter_name = "provider"
    field_name = "provider"


class CurrencyFilter(DistinctValuesFilter):
    title = _("currency")
    parameter_name = "currency"
    field_name = "currency"


class AllocationInline(ReadOnlyInline):
    model = Payment
    fk_name = "transaction"
    verbose_name_plural = _("allocations")
    fields = ["document_link", "amount", "paid_on", "method", "reference", "recorded_by"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("document", "recorded_by")

    @admin.display(description=_("document"))
    def document_link(self, obj):
        return admin_link(obj.document)


class ChildTransactionInline(ReadOnlyInline):
    """Refunds, returns and chargebacks that gave money back from this payment."""

    model = PaymentTransaction
    fk_name = "parent"
    verbose_name = _("refund or return")
    verbose_name_plural = _("refunds and returns")
    fields = ["transaction_link", "kind", "status", "amount", "value_date", "failure_reason"]

    @admin.display(description=_("transaction"))
    def transaction_link(self, obj):
        return admin_link(obj)


class RefundForm(forms.Form):
    amount = forms.DecimalField(
        label=_("amount"),
        max_digits=14,
        decimal_places=2,
        help_text=_("Prefilled with what is left to refund of this payment."),
    )


@admin.register(PaymentTransaction)
class PaymentTransactionAdmin(UnitedSearch, ExportAdminMixin, ReadOnlyAdmin):
    """The ledger: every movement of money, as its provider reported it."""

    exports = (("payments", _("payments"), _("Export selected payments as %(format)s")),)
    list_display = [
        "occurred_at",
        "kind",
        "status",
        "amount",
        "currency",
        "provider",
        "provider_reference",
        "customer",
        "payer_name",
        "masked_iban",
        "value_date",
    ]
    list_filter = [
        ProviderFilter,
        "kind",
        "status",
        CurrencyFilter,
        ("value_date", DateRangeFilter),
        UnallocatedFilter,
    ]
    search_fields = ["provider_reference"]
    search_help_text = _(
        "A provider reference, the beginning of a payer's or customer's name, or a document "
        "number the money was allocated to."
    )
    list_select_related = ["customer"]
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    inlines = [AllocationInline, ChildTransactionInline]
    actions = ["refund_selected"]
    fieldsets = [
        (
            _("Transaction"),
            {
                "fields": [
                    "provider",
                    "provider_reference",
                    "kind",
                    "status",
                    "amount",
                    "currency",
                    "method",
                    "value_date",
                    "occurred_at",
                    "failure_reason",
                ]
            },
        ),
        (
            _("Who and why"),
            {
                "fields": [
                    "customer",
                    "payer_name",
                    "masked_iban",
                    "remittance_information",
                    "parent_link",
                    "intended_document_link",
                    "unallocated_amount",
                    "recorded_by",
                ]
            },
        ),
        (_("As received"), {"fields": ["payload_as_received"]}),
    ]
    readonly_fields = [field for _title, options in fieldsets for field in options["fields"]]

    @property
    def media(self):
        return super().media + list_filter_media()

    def search_probes(self, term):
        # Each branch an index probe or prefix match: OR-ed across the joined customer and
        # document, PostgreSQL scanned the whole ledger (2.3 s at 900,000 payments).
        entries = PaymentTransaction.objects.values("pk")
        customers = Customer.objects.filter(
            Q(name__istartswith=term) | Q(company_name__istartswith=term)
        ).values("pk")
        return united(
            entries.filter(provider_reference=term),
            entries.filter(payer_name__istartswith=term),
            entries.filter(customer__in=customers),
            entries.filter(intended_document__display_number=term),
            Payment.objects.filter(document__display_number=term).values("transaction_id"),
        )

    def has_refund_permission(self, request, obj=None):
        return request.user.has_perm("invoicing.add_payment")

    @admin.display(description=_("payer IBAN"))
    def masked_iban(self, obj):
        return obj.masked_payer_iban or "-"

    @admin.display(description=_("original transaction"))
    def parent_link(self, obj):
        return admin_link(obj.parent) if obj.parent_id else "-"

    @admin.display(description=_("started for"))
    def intended_document_link(self, obj):
        return admin_link(obj.intended_document) if obj.intended_document_id else "-"

    @admin.display(description=_("not allocated"))
    def unallocated_amount(self, obj):
        if obj.kind not in INCOMING_KINDS:
            return "-"
        return formatting.amount(ledger.unallocated(obj), obj.currency, localized=False)

    @admin.display(description=_("provider payload"))
    def payload_as_received(self, obj):
        if not obj.payload:
            return "-"
        return format_html('<pre class="payload">{}</pre>', obj.payload)

    # --- refund ------------------------------------------------------------------------------

    def refundable(self, obj) -> bool:
        return obj.kind in INCOMING_KINDS and obj.status == TransactionStatus.SUCCEEDED

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        buttons = []
        if obj is not None and self.refundable(obj) and self.has_refund_permission(request):
            url = reverse("admin:invoicing_paymenttransaction_refund", args=[obj.pk])
            buttons.append((url, _("Refund")))
        context["object_buttons"] = buttons
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_urls(self):
        return [
            path(
                "<path:object_id>/refund/",
                self.admin_site.admin_view(self.refund_view),
                name="invoicing_paymenttransaction_refund",
            ),
            *super().get_urls(),
        ]

    @admin.action(description=_("Refund the selected payment"), permissions=["refund"])
    def refund_selected(self, request, queryset):
        """Opens the refund page of the one selected payment."""
        ids = list(queryset.values_list("pk", flat=True)[:2])
        if len(ids) != 1:
            self.message_user(request, _("Select exactly one payment to refund."), messages.WARNING)
            return None
        return HttpResponseRedirect(
            reverse("admin:invoicing_paymenttransaction_refund", args=[ids[0]])
        )

    def refund_view(self, request, object_id):
        """Give back part or all of a payment through its own provider; refusals are shown."""
        entry = self.get_object(request, unquote(object_id))
        if entry is None:
            raise Http404(_("No transaction with this ID."))
        if not (self.has_view_permission(request, entry) and self.has_refund_permission(request)):
            raise PermissionDenied
        left = entry.amount - ledger.refunded_from(entry)
        data = request.POST if request.method == "POST" else None
        form = RefundForm(data, initial={"amount": left})
        if form.is_bound and form.is_valid():
            try:
                refund = refunds.refund(
                    payment=entry, amount=form.cleaned_data["amount"], requested_by=request.user
                )
            except DomainError as exc:
                show_domain_error(self, request, exc)
            else:
                self.log_change(request, entry, f"Refund of {refund.amount} requested.")
                self.message_user(
                    request,
                    _("Refund of %(amount)s %(currency)s: %(status)s.")
                    % {
                        "amount": refund.amount,
                        "currency": refund.currency,
                        "status": refund.get_status_display(),
                    },
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(
                    reverse("admin:invoicing_paymenttransaction_change", args=[entry.pk])
                )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": entry,
            "title": _("Refund a payment"),
            "subtitle": str(entry),
            "summary": [
                (_("Payment"), str(entry)),
                (_("Provider reference"), entry.provider_reference),
                (_("Customer"), entry.customer or "-"),
                (_("Left to refund"), formatting.amount(left, entry.currency, localized=False)),
            ],
            "form": form,
            "media": self.media + form.media,
            "submit_label": _("Refund"),
            "cancel_url": reverse("admin:invoicing_paymenttransaction_change", args=[entry.pk]),
        }
        return TemplateResponse(request, ACTION_TEMPLATE, context)


@admin.register(SepaMandate)
class SepaMandateAdmin(admin.ModelAdmin):
    """SEPA mandates: staff enter one a customer signed on paper, or revoke one."""

    list_display = ["reference", "customer", "masked_iban", "sequence_type", "status", "source"]
    list_filter = ["status", "sequence_type", "source"]
    search_fields = ["reference", "customer__name", "account_holder"]
    list_select_related = ["customer"]
    autocomplete_fields = ["customer"]
    fields = ["customer", "iban", "bic", "account_holder", "signed_on"]
    actions = ["revoke_selected"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return [*self.fields, "reference", "sequence_type", "status", "revoked_at", "source"]

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("IBAN"))
    def masked_iban(self, obj):
        return obj.masked_iban

    def save_model(self, request, obj, form, change):
        given = mandates.give_mandate(
            customer=obj.customer,
            iban=obj.iban,
            bic=obj.bic,
            account_holder=obj.account_holder,
            signed_on=obj.signed_on,
            source=MandateSource.STAFF,
            given_by=request.user,
        )
        # The admin logs and redirects to the mandate the service created.
        obj.pk, obj.reference, obj.iban, obj.bic = given.pk, given.reference, given.iban, given.bic

    @admin.action(description=_("Revoke the selected mandates"))
    def revoke_selected(self, request, queryset):
        for mandate in queryset:
            try:
                mandates.revoke_mandate(mandate)
            except DomainError as error:
                show_domain_error(self, request, error)


class CollectionRunForm(forms.Form):
    operator = forms.ModelChoiceField(queryset=Operator.objects.order_by("name"))
    collection_date = forms.DateField(
        label=_("collection date"),
        help_text=_("Every invoice due by this date of a customer with a mandate is collected."),
    )


class CollectionReturnForm(forms.Form):
    end_to_end_id = forms.CharField(
        label=_("end-to-end id"),
        max_length=35,
        help_text=_("As the bank states it for the returned collection (the invoice number)."),
    )
    code = forms.ChoiceField(
        label=_("return reason"),
        choices=[(code, f"{code} {text}") for code, text in collections.RETURN_REASONS.items()],
    )


@admin.register(CollectionRun)
class CollectionRunAdmin(ReadOnlyAdmin):
    """Direct-debit collection runs: staff start one for a date and download its pain.008."""

    list_display = [
        "collection_date",
        "operator",
        "state",
        "due_count",
        "collection_count",
        "first_count",
        "recurring_count",
        "total",
        "download",
        "created_at",
    ]
    list_filter = ["state"]
    fields = [
        "operator",
        "collection_date",
        "state",
        "error",
        "due_count",
        "collection_count",
        "first_count",
        "recurring_count",
        "total",
        "download",
        "created_by",
        "created_at",
    ]
    readonly_fields = fields

    def has_add_permission(self, request):
        return request.user.has_perm("invoicing.add_collectionrun")

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_record_returns": request.user.has_perm("invoicing.add_paymenttransaction"),
        }
        return super().changelist_view(request, extra_context)

    @admin.display(description=_("pain.008 file"))
    def download(self, obj):
        if not obj.file:
            return ""
        url = reverse("admin:invoicing_collectionrun_file", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, _("Download"))

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "<int:object_id>/file/", view(self.file_view), name="invoicing_collectionrun_file"
            ),
            path("return/", view(self.return_view), name="invoicing_collectionrun_return"),
            *super().get_urls(),
        ]

    def return_view(self, request):
        """Staff enter a collection the bank returned, with its reason code."""
        if not request.user.has_perm("invoicing.add_paymenttransaction"):
            raise PermissionDenied
        form = CollectionReturnForm(request.POST if request.method == "POST" else None)
        if form.is_bound and form.is_valid():
            collection = PaymentTransaction.objects.filter(
                provider=collections.PROVIDER,
                kind=TransactionKind.DIRECT_DEBIT,
                provider_reference=form.cleaned_data["end_to_end_id"].strip(),
            ).first()
            if collection is None:
                form.add_error("end_to_end_id", _("No direct-debit collection has this id."))
            else:
                try:
                    returned = collections.record_return(
                        collection=collection,
                        code=form.cleaned_data["code"],
                        recorded_by=request.user,
                    )
                except DomainError as error:
                    show_domain_error(self, request, error)
                else:
                    self.message_user(
                        request,
                        _("The return of %(id)s is recorded: %(reason)s.")
                        % {"id": collection.provider_reference, "reason": returned.failure_reason},
                        messages.SUCCESS,
                    )
                    return HttpResponseRedirect(reverse("admin:invoicing_collectionrun_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": None,
            "title": _("Record a returned direct debit"),
            "summary": [],
            "form": form,
            "media": self.media + form.media,
            "submit_label": _("Record the return"),
            "cancel_url": reverse("admin:invoicing_collectionrun_changelist"),
        }
        return TemplateResponse(request, ACTION_TEMPLATE, context)

    def file_view(self, request, object_id):
        """The run's pain.008 file, to upload to the bank."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        run = CollectionRun.objects.filter(pk=object_id).first()
        if run is None or not run.file:
            raise Http404(_("This run wrote no file."))
        return FileResponse(
            run.file.open("rb"),
            as_attachment=True,
            filename=f"pain008-{run.operator_id}-{run.collection_date:%Y-%m-%d}-{run.pk}.xml",
            content_type="application/xml",
        )

    def add_view(self, request, form_url="", extra_context=None):
        """Start a run: one pain.008 for everything due by the date; errors shown on the form."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        operators = list(Operator.objects.order_by("pk")[:2])
        initial = {"operator": operators[0].pk} if len(operators) == 1 else {}
        form = CollectionRunForm(
            request.POST if request.method == "POST" else None, initial=initial
        )
        if form.is_bound and form.is_valid():
            try:
                run = collections.queue_collection(
                    operator=form.cleaned_data["operator"],
                    collection_date=form.cleaned_data["collection_date"],
                    created_by=request.user,
                )
            except InvalidInput as error:
                for field, texts in error.errors.items():
                    for text in texts:
                        form.add_error("collection_date" if field == "date" else None, text)
            else:
                self.message_user(
                    request,
                    ngettext(
                        "The run is being written: %(count)s invoice is due.",
                        "The run is being written: %(count)s invoices are due.",
                        run.due_count,
                    )
                    % {"count": run.due_count}
                    if run.due_count
                    else _("Nothing is due for collection on that date."),
                    messages.SUCCESS if run.due_count else messages.WARNING,
                )
                return HttpResponseRedirect(
                    reverse("admin:invoicing_collectionrun_change", args=[run.pk])
                )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": None,
            "title": _("Start a direct-debit collection run"),
            "summary": [],
            "form": form,
            "media": self.media + form.media,
            "submit_label": _("Write the pain.008 file"),
            "cancel_url": reverse("admin:invoicing_collectionrun_changelist"),
        }
        return TemplateResponse(request, ACTION_TEMPLATE, context)
