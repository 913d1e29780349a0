"""Back-office screens for bank statements: import a camt file, see what it matched, and the
review queue where staff assign the transfers matching could not place with confidence."""

from __future__ import annotations

import logging

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from kombu.exceptions import OperationalError as BrokerError

from cpo_portal.kernel.admin.errors import show_domain_error
from cpo_portal.kernel.admin.lists import UnitedSearch
from cpo_portal.kernel.errors import DomainError
from cpo_portal.kernel.search import TRIGRAM_MIN_LENGTH, united
from customers.models import Customer
from invoicing.admin.common import ACTION_TEMPLATE, ReadOnlyAdmin, change_url
from invoicing.models import Document, DocumentStatus, Operator
from invoicing.payments import matching
from invoicing.payments.models import (
    BankStatement,
    MatchOutcome,
    PaymentTransaction,
    StatementCredit,
    StatementStatus,
    mask_iban,
)
from invoicing.payments.statements import receive_statement
from invoicing.setup.models import DocumentKind
from invoicing.tasks import import_or_queue

logger = logging.getLogger(__name__)


class UploadStatementForm(forms.Form):
    operator = forms.ModelChoiceField(
        label=_("operator"), queryset=Operator.objects.order_by("name")
    )
    file = forms.FileField(
        label=_("statement file"),
        help_text=_(
            "camt.053 (statement) or camt.054 (notification) XML from the bank. Entries imported "
            "before are not booked again."
        ),
    )


@admin.register(BankStatement)
class BankStatementAdmin(ReadOnlyAdmin):
    list_display = [
        "__str__",
        "operator",
        "account",
        "from_date",
        "to_date",
        "status",
        "entries",
        "credits",
        "matched",
        "partly_matched",
        "review_link",
        "returns",
        "already_imported",
        "created_at",
    ]
    list_filter = ["status", "operator"]
    list_select_related = ["operator"]
    show_full_result_count = False
    fields = [
        "operator",
        "file_name",
        "file",
        "message_type",
        "statement_id",
        "account",
        "created_on",
        "from_date",
        "to_date",
        "status",
        "error",
        "entries",
        "credits",
        "matched",
        "partly_matched",
        "review_link",
        "returns",
        "already_imported",
        "uploaded_by",
        "created_at",
        "finished_at",
    ]
    readonly_fields = fields

    @admin.display(description=_("account"))
    def account(self, obj):
        return mask_iban(obj.account_iban)

    @admin.display(description=_("to review"))
    def review_link(self, obj):
        url = reverse("admin:invoicing_statementcredit_changelist")
        return format_html(
            '<a href="{}?statement__id__exact={}&outcome__exact=review">{}</a>',
            url,
            obj.pk,
            obj.to_review,
        )

    def has_upload_permission(self, request):
        return request.user.has_perm("invoicing.add_bankstatement")

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_upload": self.has_upload_permission(request)}
        return super().changelist_view(request, extra_context)

    def get_urls(self):
        opts = self.opts
        return [
            path(
                "upload/",
                self.admin_site.admin_view(self.upload_view),
                name=f"{opts.app_label}_{opts.model_name}_upload",
            ),
            *super().get_urls(),
        ]

    def upload_view(self, request):
        """Store the file, import it (a large one on a worker) and say what it did."""
        if not self.has_upload_permission(request):
            raise PermissionDenied
        operators = list(Operator.objects.all()[:2])
        initial = {"operator": operators[0]} if len(operators) == 1 else {}
        form = UploadStatementForm(request.POST or None, request.FILES or None, initial=initial)
        if form.is_bound and form.is_valid():
            upload = form.cleaned_data["file"]
            statement = None
            try:
                statement = receive_statement(
                    operator=form.cleaned_data["operator"],
                    name=upload.name,
                    data=upload,
                    uploaded_by=request.user,
                )
                queued = import_or_queue(statement)
            except DomainError as exc:
                show_domain_error(self, request, exc)
            except BrokerError as exc:
                logger.exception("Bank statement import could not be queued")
                self.message_user(
                    request,
                    _("The file is stored but could not be handed to the workers (%(error)s).")
                    % {"error": exc},
                    messages.ERROR,
                )
            else:
                statement.refresh_from_db()
                self.message_user(request, self.summary(statement, queued), messages.SUCCESS)
                return HttpResponseRedirect(change_url(statement))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": None,
            "title": _("Import a bank statement"),
            "summary": [],
            "form": form,
            "media": self.media + form.media,
            "submit_label": _("Import"),
            "cancel_url": reverse("admin:invoicing_bankstatement_changelist"),
        }
        return TemplateResponse(request, ACTION_TEMPLATE, context)

    @staticmethod
    def summary(statement: BankStatement, queued: bool) -> str:
        if queued:
            return _("%(name)s is being imported by a worker; this page shows how far it got.") % {
                "name": statement.file_name
            }
        return _(
            "Imported %(statement)s: %(credits)s new transfers — %(matched)s matched, "
            "%(partly)s partly matched, %(review)s to review; %(returns)s direct-debit returns; "
            "%(before)s imported before."
        ) % {
            "statement": statement,
            "credits": statement.credits,
            "matched": statement.matched,
            "partly": statement.partly_matched,
            "review": statement.to_review,
            "returns": statement.returns,
            "before": statement.already_imported,
        }

    def change_view(self, request, object_id, form_url="", extra_context=None):
        statement = self.get_object(request, unquote(object_id))
        if statement is not None and statement.status in (
            StatementStatus.QUEUED,
            StatementStatus.RUNNING,
        ):
            self.message_user(
                request,
                _("Importing: %(entries)s entries read so far. Reload to follow.")
                % {"entries": statement.entries},
                messages.INFO,
            )
        return super().change_view(request, object_id, form_url, extra_context)


class OutcomeFilter(admin.SimpleListFilter):
    """The review queue first: transfers waiting for staff, unless another outcome is chosen."""

    title = _("outcome")
    parameter_name = "outcome__exact"

    def lookups(self, request, model_admin):
        return [*MatchOutcome.choices, ("all", _("All"))]

    def queryset(self, request, queryset):
        value = self.value() or MatchOutcome.REVIEW
        return queryset if value == "all" else queryset.filter(outcome=value)

    def choices(self, changelist):
        current = self.value() or MatchOutcome.REVIEW
        for value, label in self.lookup_choices:
            yield {
                "selected": current == value,
                "query_string": changelist.get_query_string({self.parameter_name: value}),
                "display": label,
            }


class AssignForm(forms.Form):
    documents = forms.ModelMultipleChoiceField(
        label=_("invoices"),
        queryset=Document.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Paid oldest due first; what is left stays as the customer's credit."),
    )
    numbers = forms.CharField(
        label=_("other invoice numbers"),
        required=False,
        help_text=_("Comma-separated, for invoices not suggested above."),
    )
    customer = forms.ModelChoiceField(
        label=_("customer"),
        queryset=Customer.objects.none(),
        required=False,
        help_text=_("For “Keep as customer credit”: whose money it is."),
    )

    def __init__(self, *args, item: StatementCredit, **kwargs):
        super().__init__(*args, **kwargs)
        self.item = item
        credit = item.transaction
        self.open_invoices = Document.objects.filter(
            operator_id=credit.operator_id,
            kind=DocumentKind.INVOICE,
            currency=credit.currency,
            status__in=(DocumentStatus.ISSUED, DocumentStatus.OVERDUE),
        )
        self.fields["documents"].queryset = self.open_invoices.filter(pk__in=item.candidates)
        self.fields["documents"].label_from_instance = lambda d: (
            f"{d.display_number} — {d.recipient_name} — {d.outstanding} {d.currency} "
            f"due {d.due_date}"
        )
        if len(item.candidates) == 1:
            self.fields["documents"].initial = item.candidates
        self.fields["customer"].queryset = Customer.objects.filter(
            operator_id=credit.operator_id
        ).order_by("name")

    def chosen(self) -> list[Document]:
        chosen = list(self.cleaned_data["documents"])
        numbers = [n.strip() for n in self.cleaned_data["numbers"].split(",") if n.strip()]
        if numbers:
            found = list(self.open_invoices.filter(display_number__in=numbers))
            missing = set(numbers) - {d.display_number for d in found}
            if missing:
                raise forms.ValidationError(
                    _("No open invoice is numbered %(numbers)s.")
                    % {"numbers": ", ".join(sorted(missing))}
                )
            chosen += [d for d in found if d not in chosen]
        return chosen


class QueueChangeList(ChangeList):
    """The page's suggested invoices read in one query, not one per transfer."""

    def get_results(self, request):
        super().get_results(request)
        wanted = {pk for item in self.result_list for pk in item.candidates}
        documents = Document.objects.only(
            "display_number", "total_gross", "amount_paid", "currency"
        ).in_bulk(wanted)
        for item in self.result_list:
            item.suggested_documents = [documents[pk] for pk in item.candidates if pk in documents]


@admin.register(StatementCredit)
class StatementCreditAdmin(UnitedSearch, ReadOnlyAdmin):
    """The reconciliation queue: each transfer with where matching placed it."""

    list_display = [
        "value_date",
        "amount",
        "payer",
        "payer_account",
        "remittance",
        "outcome",
        "reason",
        "suggested",
        "assign_link",
    ]
    list_filter = [OutcomeFilter, "statement"]
    list_select_related = ["transaction", "statement"]
    search_fields = ["transaction__remittance_information", "transaction__payer_name"]
    show_full_result_count = False

    united_search_field = "transaction"

    def search_probes(self, term):
        # Anywhere in the payer's name or the remittance information, each an index scan
        # (trigrams): Django's default scanned every transfer joined with its transaction
        # (0.6 s over 255,000 credits).
        transfers = PaymentTransaction.objects.values("pk")
        if len(term) < TRIGRAM_MIN_LENGTH:  # no trigram to look up: the payer's name starts it
            return transfers.filter(payer_name__istartswith=term)
        return united(
            transfers.filter(payer_name__icontains=term),
            transfers.filter(remittance_information__icontains=term),
        )

    @admin.display(description=_("value date"), ordering="transaction__value_date")
    def value_date(self, obj):
        return obj.transaction.value_date

    @admin.display(description=_("amount"))
    def amount(self, obj):
        return f"{obj.transaction.amount} {obj.transaction.currency}"

    @admin.display(description=_("payer"))
    def payer(self, obj):
        return obj.transaction.payer_name

    @admin.display(description=_("payer IBAN"))
    def payer_account(self, obj):
        return obj.transaction.masked_payer_iban

    @admin.display(description=_("remittance information"))
    def remittance(self, obj):
        return obj.transaction.remittance_information[:140]

    @admin.display(description=_("suggested invoices"))
    def suggested(self, obj):
        return format_html_join(
            ", ",
            '<a href="{}">{}</a> ({} {})',
            (
                (change_url(d), d.display_number, d.outstanding, d.currency)
                for d in obj.suggested_documents
            ),
        )

    def get_changelist(self, request, **kwargs):
        return QueueChangeList

    @admin.display(description=_("assign"))
    def assign_link(self, obj):
        if obj.outcome != MatchOutcome.REVIEW:
            return "-"
        url = reverse("admin:invoicing_statementcredit_assign", args=[obj.pk])
        return format_html('<a class="button" href="{}">{}</a>', url, _("Assign"))

    def has_assign_permission(self, request):
        return request.user.has_perm("invoicing.change_statementcredit")

    def get_urls(self):
        return [
            path(
                "<path:object_id>/assign/",
                self.admin_site.admin_view(self.assign_view),
                name="invoicing_statementcredit_assign",
            ),
            *super().get_urls(),
        ]

    def assign_view(self, request, object_id):
        """Choose the invoices (the suggested ones are listed) and confirm; or keep the money
        as a customer's credit. Allocation goes through the ledger, which locks the rows."""
        if not self.has_assign_permission(request):
            raise PermissionDenied
        item = self.get_object(request, unquote(object_id))
        if item is None:
            raise Http404
        form = AssignForm(request.POST or None, item=item)
        if form.is_bound and form.is_valid():
            try:
                if "credit" in request.POST:
                    customer = form.cleaned_data["customer"]
                    if customer is None:
                        raise forms.ValidationError(_("Choose whose credit it is."))
                    matching.keep_as_credit(item=item, customer=customer, user=request.user)
                    done = _("The transfer is kept as %(customer)s's credit.") % {
                        "customer": customer
                    }
                else:
                    allocations = matching.assign(
                        item=item, documents=form.chosen(), user=request.user
                    )
                    done = _("The transfer pays %(numbers)s.") % {
                        "numbers": ", ".join(a.document.display_number for a in allocations)
                    }
            except forms.ValidationError as exc:
                form.add_error(None, exc)
            except DomainError as exc:
                show_domain_error(self, request, exc)
            else:
                self.message_user(request, done, messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:invoicing_statementcredit_changelist"))
        credit = item.transaction
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": item,
            "title": _("Assign a transfer"),
            "summary": [
                (_("amount"), f"{credit.amount} {credit.currency}"),
                (_("value date"), credit.value_date),
                (_("payer"), credit.payer_name),
                (_("payer IBAN"), credit.masked_payer_iban),
                (_("remittance information"), credit.remittance_information),
                (_("reason"), item.reason),
            ],
            "form": form,
            "media": self.media + form.media,
            "submit_label": _("Assign to the chosen invoices"),
            "other_submits": [("credit", _("Keep as customer credit"))],
            "cancel_url": reverse("admin:invoicing_statementcredit_changelist"),
        }
        return TemplateResponse(request, ACTION_TEMPLATE, context)
