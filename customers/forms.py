"""Customer forms (back-office and portal); invoice details are checked by customers.services."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.forms import PasswordResetForm
from django.contrib.auth.signals import user_login_failed
from django.db import transaction
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_variables

from cpo_portal.kernel.security import reset_email_allowed
from customers.auth import customer_of, is_back_office
from customers.models import Customer
from customers.notifications.outbox import notify
from customers.services import (
    PORTAL_KINDS,
    clean_invoice_details,
    customer_errors,
    invoice_detail_errors,
    mandatory_invoice_fields,
    mobile_phone_error,
    operator_settings,
)
from customers.views import selectors


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
            "time_zone",
            "name",
            "company_name",
            "company_registration_id",
            "vat_id",
            "email",
            "mobile_phone",
            "street",
            "postal_code",
            "city",
            "country",
            "requires_invoice",
            "billing_mode",
            "user",
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

    def clean_user(self):
        user = self.cleaned_data.get("user")
        if user is not None and is_back_office(user):
            raise forms.ValidationError(
                _("A back-office account cannot be a driver's portal account.")
            )
        return user

    def clean(self):
        cleaned_data = super().clean()
        operator = cleaned_data.get("operator")
        if operator is None and self.instance.operator_id:
            operator = self.instance.operator
        kind = cleaned_data.get("kind")
        if operator is None or not kind:
            return cleaned_data  # the missing field already carries its own error

        settings = operator_settings(operator)
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

        cleaned_data.update(clean_invoice_details(cleaned_data))
        errors = customer_errors(
            values=cleaned_data,
            stored=self.instance if self.instance.pk else None,
            operator=operator,
            settings=settings,
        )
        for field, message in errors.items():
            if field in self.errors:
                continue  # the field already says what is wrong with it
            self.add_error(field if field in self.fields else None, message)

        if cleaned_data.get("user") is not None and kind not in PORTAL_KINDS:
            self.add_error("user", _("Only individuals and companies have portal accounts."))
        return cleaned_data


# --- portal --------------------------------------------------------------------------------


class PortalSignInForm(forms.Form):
    """A driver's sign-in: e-mail and password; staff and unlinked accounts are turned away."""

    email = forms.EmailField(
        label=_("E-mail address"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    password = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    error_messages = {
        # One message for an unknown address and a wrong password: it tells nobody who has
        # an account.
        "invalid_login": _("The e-mail address or the password is not correct."),
        "no_customer": _(
            "This account is not linked to a customer yet. Please contact your charging operator."
        ),
    }

    def __init__(self, request=None, *args, **kwargs):
        self.request = request
        self.user_cache = None
        super().__init__(*args, **kwargs)

    @sensitive_variables("password")
    def clean(self):
        email = self.cleaned_data.get("email")
        password = self.cleaned_data.get("password")
        if email and password:
            user = authenticate(self.request, email=email, password=password)
            if user is None:
                raise forms.ValidationError(
                    self.error_messages["invalid_login"], code="invalid_login"
                )
            if is_back_office(user):
                # Exactly the wrong-password answer, counted as a failure like one: the portal
                # must not confirm a staff account's password to whoever is guessing it.
                user_login_failed.send(
                    sender=__name__, credentials={"email": email}, request=self.request
                )
                raise forms.ValidationError(
                    self.error_messages["invalid_login"], code="invalid_login"
                )
            if customer_of(user) is None:
                raise forms.ValidationError(self.error_messages["no_customer"], code="no_customer")
            self.user_cache = user
        return self.cleaned_data

    def get_user(self):
        return self.user_cache


class PortalPasswordResetForm(PasswordResetForm):
    """Password reset for drivers only: back-office accounts get no e-mail from the portal."""

    event = "password_reset"

    email = forms.EmailField(
        label=_("E-mail address"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )

    def get_users(self, email):
        # Unlike Django's default, accounts created without a password (invited drivers) may
        # set their first one this way.
        users = get_user_model()._default_manager.filter(
            email__iexact=email,
            is_active=True,
            is_staff=False,
            is_superuser=False,
            customer__isnull=False,
        )
        return (user for user in users if user.email.casefold() == email.casefold())

    def save(self, *args, request=None, **kwargs):
        # Beyond the per-address and per-client limits nothing is sent, and the page answers
        # as always: it tells nobody whether the address has an account or was limited.
        if reset_email_allowed(request, self.cleaned_data["email"]):
            super().save(*args, request=request, **kwargs)

    def send_mail(self, subject_template_name, email_template_name, context, *args, **kwargs):
        """The reset link goes out through the outbox in the driver's language, whatever the
        page was shown in (logged, retried; its text blanked once sent, as it opens the account)."""
        to_email = args[1] if len(args) > 1 else kwargs["to_email"]
        with transaction.atomic():
            notify(
                event=self.event,
                customer=context["user"].customer,
                context=context,
                email=to_email,
            )


class PortalInvitationForm(PortalPasswordResetForm):
    """Staff invite a driver: the same one-time link to choose a password, worded as a welcome,
    and not counted against the reset limits (staff invite many drivers from one address)."""

    event = "portal_invitation"

    def save(self, *args, request=None, **kwargs):
        PasswordResetForm.save(self, *args, request=request, **kwargs)


def _text(label, max_length, *, autocomplete="", help_text=""):
    attrs = {"autocomplete": autocomplete} if autocomplete else {}
    return forms.CharField(
        label=label,
        max_length=max_length,
        required=False,
        help_text=help_text,
        widget=forms.TextInput(attrs=attrs),
    )


class InvoiceDetailsForm(forms.Form):
    """A driver's own invoice details; which are mandatory is the operator's choice, checked by
    customers.services like everywhere else."""

    kind = forms.ChoiceField(
        label=_("I am invoiced as"),
        choices=[
            (Customer.Kind.INDIVIDUAL, _("an individual")),
            (Customer.Kind.COMPANY, _("a company")),
        ],
        widget=forms.RadioSelect,
    )
    name = _text(_("Full name"), 200, autocomplete="name")
    company_name = _text(_("Company name"), 200, autocomplete="organization")
    company_registration_id = _text(
        _("Company registration ID"),
        50,
        help_text=_("Commercial register number, e.g. HRB 12345 B."),
    )
    vat_id = _text(
        _("VAT ID"),
        40,
        help_text=_("EU VAT ID with its country prefix, e.g. DE136695976."),
    )
    email = forms.CharField(
        label=_("E-mail for invoices"),
        max_length=254,
        required=False,
        help_text=_("Invoices and payment reminders go to this address."),
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    mobile_phone = forms.CharField(
        label=_("Mobile phone for text messages"),
        max_length=30,
        required=False,
        help_text=_("With its country code, e.g. +49 151 23456789."),
        widget=forms.TextInput(attrs={"autocomplete": "tel", "type": "tel"}),
    )
    street = _text(_("Street and number"), 200, autocomplete="street-address")
    postal_code = _text(_("Postal code"), 20, autocomplete="postal-code")
    city = _text(_("City"), 100, autocomplete="address-level2")
    country = _text(
        _("Country"),
        10,
        autocomplete="country",
        help_text=_("Two-letter country code, e.g. DE, FR, GR."),
    )
    language = forms.ChoiceField(
        label=_("Language of invoices and e-mails"),
        choices=[("", _("The operator's default")), *settings.LANGUAGES],
        required=False,
    )
    requires_invoice = forms.BooleanField(
        label=_("I need a full invoice with these details"),
        required=False,
        help_text=_("For example for your employer or your company's accounts."),
    )

    def __init__(self, *args, customer: Customer, **kwargs):
        self.customer = customer
        self.operator_settings = selectors.operator_settings(customer=customer)
        super().__init__(*args, **kwargs)

    def mandatory_for(self, kind: str) -> list[str]:
        if self.operator_settings is None:
            return []
        return mandatory_invoice_fields(settings=self.operator_settings, kind=kind)

    @property
    def current_kind(self) -> str:
        kind = self.data.get("kind") if self.is_bound else self.initial.get("kind")
        return kind if kind in PORTAL_KINDS else Customer.Kind.INDIVIDUAL

    @property
    def mandatory(self) -> set[str]:
        """The fields the operator requires for the kind chosen in the form."""
        return set(self.mandatory_for(self.current_kind))

    def clean(self):
        cleaned_data = super().clean()
        kind = cleaned_data.get("kind")
        if not kind:
            return cleaned_data  # the kind carries its own error
        if self.operator_settings is None:
            raise forms.ValidationError(
                _("Your operator has not set up invoicing yet; please try again later.")
            )
        cleaned_data.update(clean_invoice_details(cleaned_data))
        errors = invoice_detail_errors(
            kind=kind, details=cleaned_data, settings=self.operator_settings
        )
        if phone_error := mobile_phone_error(cleaned_data, operator=self.customer.operator):
            errors["mobile_phone"] = phone_error
        for field, message in errors.items():
            if field not in self.errors:
                self.add_error(field if field in self.fields else None, message)
        return cleaned_data


class DirectDebitMandateForm(forms.Form):
    """A driver's SEPA mandate: the account and the explicit consent to the mandate text."""

    account_holder = forms.CharField(label=_("Account holder"), max_length=70)
    iban = forms.CharField(label=_("IBAN"), max_length=42)
    consent = forms.BooleanField(
        label=_("I agree to the mandate text above."),
        error_messages={"required": _("Tick the box to give the mandate.")},
    )
