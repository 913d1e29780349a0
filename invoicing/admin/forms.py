"""Back-office forms for invoicing: settings, numbering and the document and billing-run actions."""

from __future__ import annotations

from django import forms
from django.contrib.admin.widgets import AdminDateWidget
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from cpo_portal.kernel.errors import InvalidInput
from cpo_portal.kernel.periods import today_for
from customers.models import INVOICE_DETAIL_FIELDS, Customer
from invoicing.documents.numbering import (
    change_next_number,
    check_next_number,
    check_prefix,
    start_prefix,
    yearly_prefix_errors,
)
from invoicing.models import (
    RECIPIENT_FIELDS,
    Document,
    InvoicingSettings,
    NumberingSeries,
    Operator,
    Payment,
    default_mandatory_for_companies,
    default_mandatory_for_individuals,
)
from invoicing.setup.logos import LogoFormMixin


def invoice_detail_choices() -> list[tuple[str, str]]:
    """The invoice details a customer can give, labelled as on the customer form."""
    return [
        (name, capfirst(Customer._meta.get_field(name).verbose_name))
        for name in INVOICE_DETAIL_FIELDS
    ]


class InvoiceDetailsField(forms.MultipleChoiceField):
    """Ticked invoice details, stored as a list of customer field names in their usual order."""

    widget = forms.CheckboxSelectMultiple

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("choices", invoice_detail_choices)
        super().__init__(**kwargs)

    def validate(self, value):
        forms.Field.validate(self, value)  # only "required"; unknown names are checked below
        unknown = [name for name in value if name not in INVOICE_DETAIL_FIELDS]
        if unknown:
            raise forms.ValidationError(
                _("Unknown invoice detail: %(unknown)s. Known details are %(known)s."),
                code="invalid_choice",
                params={
                    "unknown": ", ".join(f"“{name}”" for name in unknown),
                    "known": ", ".join(INVOICE_DETAIL_FIELDS),
                },
            )

    def clean(self, value):
        chosen = set(super().clean(value))
        return [name for name in INVOICE_DETAIL_FIELDS if name in chosen]


class InvoicingSettingsForm(LogoFormMixin, forms.ModelForm):
    """The operator's invoicing settings, with the mandatory invoice details as tick boxes."""

    # The model's defaults as initial values: a new operator starts with them ticked.
    mandatory_fields_individual = InvoiceDetailsField(
        label=_("mandatory invoice details for individuals"),
        initial=default_mandatory_for_individuals,
        help_text=_(
            "What a private customer must give before an invoice is addressed to them. "
            "Customers missing one of these are not invoiced until their details are complete."
        ),
    )
    mandatory_fields_company = InvoiceDetailsField(
        label=_("mandatory invoice details for companies"),
        initial=default_mandatory_for_companies,
        help_text=_(
            "What a company must give before an invoice is addressed to it (usually the "
            "company name, VAT ID and full address)."
        ),
    )

    class Meta:
        model = InvoicingSettings
        # The admin inline adds the rest of the fields from its fieldsets.
        fields = ["mandatory_fields_individual", "mandatory_fields_company"]


class NumberingSeriesForm(forms.ModelForm):
    """Prefix, next number and padding of one series; issued numbers are never handed out again."""

    next_number = forms.IntegerField(
        label=_("next number"),
        min_value=1,
        widget=forms.NumberInput(attrs={"class": "vIntegerField"}),
        help_text=_(
            "The number the next document of this kind gets. It can be chosen freely until the "
            "first document is issued; after that the series continues without gaps."
        ),
    )

    class Meta:
        model = NumberingSeries
        fields = ["prefix", "yearly_prefix", "next_number", "padding"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.old_prefix = self.instance.prefix
        self.has_documents = bool(self.instance.pk) and self.instance.documents.exists()

    def starts_new_prefix(self) -> bool:
        """A new prefix on a series that numbered documents closes it and starts another."""
        prefix = self.cleaned_data.get("prefix", self.old_prefix)
        return self.has_documents and prefix != self.old_prefix

    def clean_prefix(self):
        value = self.cleaned_data["prefix"]
        if self.instance.pk and value != self.old_prefix:
            try:
                check_prefix(series=self.instance, prefix=value)
            except InvalidInput as exc:
                raise forms.ValidationError(str(exc), code="prefix_closed") from exc
        return value

    def clean_yearly_prefix(self):
        value = self.cleaned_data["yearly_prefix"]
        problem = yearly_prefix_errors(value)
        if problem:
            raise forms.ValidationError(problem, code="yearly_prefix")
        return value

    def clean_next_number(self):
        value = self.cleaned_data["next_number"]
        if not self.instance.pk or self.starts_new_prefix():
            return value
        # The rule locks the series row until the admin's transaction commits, so no document
        # can be issued between this check and the save with a number this form hands out.
        try:
            check_next_number(series=self.instance, next_number=value)
        except InvalidInput as exc:
            raise forms.ValidationError(str(exc), code="number_used") from exc
        return value

    def save(self, commit=True):
        series = super().save(commit=False)
        if not commit or series.pk is None:
            return super().save(commit=commit)
        data = self.cleaned_data
        if self.starts_new_prefix():
            return start_prefix(
                series=series,
                prefix=data["prefix"],
                next_number=data["next_number"],
                yearly_prefix=data["yearly_prefix"],
            )
        series.save(update_fields=["prefix", "yearly_prefix", "padding"])
        return change_next_number(series=series, next_number=data["next_number"])


# --- document actions ------------------------------------------------------------------------


class DocumentActionForm(forms.Form):
    """A form about one document (the admin passes it in)."""

    def __init__(self, *args, document: Document, **kwargs):
        self.document = document
        super().__init__(*args, **kwargs)


class CreditNoteForm(DocumentActionForm):
    """Why the document is credited, and whether a corrected document replaces it."""

    # Not required here: the credit note service refuses an empty reason with its own words.
    reason = forms.CharField(
        label=_("reason"),
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60, "required": True}),
        help_text=_("Printed on the credit note, e.g. “Wrong VAT ID on the invoice”."),
    )
    reissue = forms.BooleanField(
        label=_("issue a replacement document"),
        required=False,
        help_text=_(
            "Bill the same sessions again on a new document with the customer's current "
            "details (fix the customer first). Without it the sessions stay unbilled."
        ),
    )
    reprice = forms.BooleanField(
        label=_("re-price the sessions"),
        required=False,
        help_text=_(
            "With a replacement: price the sessions again under the tariff version valid at "
            "their start and today's tax rules, instead of copying the credited prices."
        ),
    )


class WithdrawalForm(DocumentActionForm):
    """Why a pro forma invoice is withdrawn (recorded with who and when)."""

    # Not required here: the service refuses an empty reason with its own words.
    reason = forms.CharField(
        label=_("reason"),
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60, "required": True}),
        help_text=_("No credit note and no VAT: its sessions become billable again."),
    )


class RecipientCorrectionForm(DocumentActionForm):
    """The document's recipient block, prefilled, with the reason for the correction."""

    reason = forms.CharField(
        label=_("reason"),
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60, "required": True}),
        help_text=_("Kept with the correction, e.g. “Customer moved; address updated”."),
    )

    def __init__(self, *args, document: Document, **kwargs):
        initial = {name: getattr(document, name) for name in RECIPIENT_FIELDS}
        initial.update(kwargs.pop("initial", None) or {})
        super().__init__(*args, document=document, initial=initial, **kwargs)
        recipient = {}
        for name in RECIPIENT_FIELDS:
            model_field = Document._meta.get_field(name)
            # Plain text fields: the correction service checks e-mail, VAT ID and country and
            # words the errors; the length limits only keep the values storable.
            recipient[name] = forms.CharField(
                label=capfirst(model_field.verbose_name),
                max_length=model_field.max_length,
                required=False,
            )
        recipient["recipient_vat_id"].help_text = _("With its country prefix, e.g. DE136695976.")
        recipient["recipient_country"].help_text = _("Two-letter country code, e.g. DE.")
        self.fields = {**recipient, "reason": self.fields["reason"]}

    def changes(self) -> dict[str, str]:
        """Only the recipient fields the user edited."""
        return {name: self.cleaned_data[name] for name in self.changed_data if name != "reason"}


class PaymentForm(DocumentActionForm):
    """Money received against the document."""

    amount = forms.DecimalField(
        label=_("amount"),
        max_digits=14,
        decimal_places=2,
        help_text=_("Prefilled with what is still due."),
    )
    paid_on = forms.DateField(label=_("paid on"), widget=AdminDateWidget)
    method = forms.ChoiceField(
        label=_("method"), choices=Payment.Method.choices, initial=Payment.Method.BANK_TRANSFER
    )
    reference = forms.CharField(
        label=_("reference"),
        max_length=100,
        required=False,
        help_text=_("E.g. the bank statement line or card transaction ID."),
    )

    def __init__(self, *args, document: Document, **kwargs):
        initial = {"amount": document.outstanding, "paid_on": today_for(document.operator)}
        initial.update(kwargs.pop("initial", None) or {})
        super().__init__(*args, document=document, initial=initial, **kwargs)


# --- billing runs ----------------------------------------------------------------------------


class StartBillingRunForm(forms.Form):
    """Which operator and month a billing run bills."""

    operator = forms.ModelChoiceField(
        label=_("operator"),
        queryset=Operator.objects.filter(invoicing_settings__isnull=False),
        help_text=_("Only operators with invoicing settings can be billed."),
    )
    # Text, not a date: `parse_period` reads it and explains what a month looks like.
    period = forms.CharField(
        label=_("month"),
        max_length=7,
        help_text=_(
            "The month to bill as YYYY-MM, e.g. 2026-10. Only months that are over can be "
            "billed; a month billed before bills only what is still unbilled."
        ),
    )


class DatevExportForm(forms.Form):
    """Which operator and month go to the accountant's DATEV."""

    operator = forms.ModelChoiceField(
        label=_("operator"),
        queryset=Operator.objects.filter(datev_settings__isnull=False),
        help_text=_("Only operators with DATEV settings can be exported."),
    )
    # Text, not a date: `parse_period` reads it and explains what a month looks like.
    period = forms.CharField(
        label=_("month"),
        max_length=7,
        help_text=_("The month as YYYY-MM, e.g. 2026-11."),
    )
