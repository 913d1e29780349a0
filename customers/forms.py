"""Back-office form for customers: invoice details checked by the one shared validation."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from invoicing.models import InvoicingSettings

from .models import Customer
from .services import invoice_detail_errors, normalise_vat_id


class CustomerAdminForm(forms.ModelForm):
    """Customer details as the back-office edits them; the rules live in customers.services."""

    # Plain text fields, so the shared validation (not Django's own field checks) words the
    # errors for e-mail, VAT ID and country: the admin shows what the API and portal show.
    email = forms.CharField(
        label=_("e-mail"),
        max_length=254,
        required=False,
        help_text=_("Invoices, receipts and payment reminders are sent to this address."),
    )
    vat_id = forms.CharField(
        label=_("VAT ID"),
        max_length=40,
        required=False,
        help_text=_(
            "EU VAT ID with its country prefix, e.g. DE136695976. Spaces, dots and dashes are "
            "removed when you save."
        ),
    )
    country = forms.CharField(
        label=_("country"),
        max_length=10,
        required=False,
        help_text=_("Two-letter country code (ISO 3166-1), e.g. DE, FR, GR."),
    )

    class Meta:
        model = Customer
        fields = [
            "operator",
            "kind",
            "language",
            "name",
            "company_name",
            "company_registration_id",
            "vat_id",
            "email",
            "street",
            "postal_code",
            "city",
            "country",
            "requires_invoice",
            "billing_mode",
        ]
        help_texts = {
            "operator": _("The charge point operator who bills this customer."),
            "kind": _(
                "Individual or company: which invoice details are mandatory follows the "
                "operator's invoicing settings. Ad-hoc: a driver who left only an e-mail "
                "(erased after 30 days). Anonymous: the one shared customer for sessions "
                "without details."
            ),
            "name": _(
                "Full name as printed on invoices (for companies: an optional contact person)."
            ),
            "company_name": _("Legal name of the company as printed on invoices."),
            "company_registration_id": _("Commercial register number, e.g. HRB 12345 B."),
            "language": _(
                "Language of this customer's documents and e-mails; empty means the operator's "
                "default language."
            ),
            "requires_invoice": _(
                "Tick when the customer asked for a full invoice with these details."
            ),
            "billing_mode": _(
                "Leave on the operator's issuing schedule unless this customer is invoiced "
                "differently (after each session or monthly)."
            ),
        }

    def operator_settings(self, operator) -> InvoicingSettings | None:
        try:
            return operator.invoicing_settings
        except InvoicingSettings.DoesNotExist:
            return None

    def clean_country(self) -> str:
        return (self.cleaned_data.get("country") or "").strip().upper()

    def clean(self):
        cleaned_data = super().clean()
        operator = cleaned_data.get("operator")
        if operator is None and self.instance.operator_id:
            operator = self.instance.operator
        kind = cleaned_data.get("kind")
        if operator is None or not kind:
            return cleaned_data  # the missing field already carries its own error

        settings = self.operator_settings(operator)
        if settings is None:
            self.add_error(
                None,
                _(
                    "The operator “%(operator)s” has no invoicing settings yet, so its "
                    "mandatory invoice details are unknown. Set them up on the operator's page "
                    "first."
                )
                % {"operator": operator},
            )
            return cleaned_data

        errors = invoice_detail_errors(kind=kind, details=cleaned_data, settings=settings)
        for field, message in errors.items():
            if field in self.errors:
                continue  # the field already says what is wrong with it
            self.add_error(field if field in self.fields else None, message)

        if kind == Customer.Kind.ANONYMOUS:
            others = Customer.objects.filter(operator=operator, kind=Customer.Kind.ANONYMOUS)
            if self.instance.pk:
                others = others.exclude(pk=self.instance.pk)
            if others.exists():
                self.add_error(
                    "kind",
                    _(
                        "The operator already has its anonymous customer; every session "
                        "without details goes to that one."
                    ),
                )

        if "vat_id" in cleaned_data:
            cleaned_data["vat_id"] = normalise_vat_id(cleaned_data["vat_id"])
        return cleaned_data
