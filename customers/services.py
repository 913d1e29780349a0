"""Business operations on customers: invoice-detail validation, creation, GDPR erasure."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from stdnum.eu import vat as eu_vat
from stdnum.exceptions import ValidationError as StdnumValidationError

from cpo_portal.kernel.errors import InvalidInput
from customers.models import Customer
from invoicing.models import INVOICE_DETAIL_FIELDS, InvoicingSettings, Operator

AD_HOC_EMAIL_RETENTION = timedelta(days=30)

FIELD_LABELS = {
    "name": "name",
    "company_name": "company name",
    "company_registration_id": "company registration ID",
    "vat_id": "VAT ID",
    "street": "street",
    "postal_code": "postal code",
    "city": "city",
    "country": "country",
    "email": "e-mail",
}


def mandatory_invoice_fields(*, settings: InvoicingSettings, kind: str) -> list[str]:
    """The invoice-detail fields the operator requires for this kind of customer."""
    if kind == Customer.Kind.COMPANY:
        return list(settings.mandatory_fields_company or [])
    if kind == Customer.Kind.INDIVIDUAL:
        return list(settings.mandatory_fields_individual or [])
    if kind == Customer.Kind.AD_HOC:
        return ["email"]
    return []


def normalise_vat_id(value: str) -> str:
    """A VAT ID without spaces, dots or dashes, upper case (how tax offices print it)."""
    return eu_vat.compact(value) if value else ""


def invoice_detail_errors(
    *, kind: str, details: Mapping[str, object], settings: InvoicingSettings
) -> dict[str, str]:
    """One clear message per missing or invalid invoice-detail field (admin, API and portal)."""
    errors: dict[str, str] = {}
    for field in mandatory_invoice_fields(settings=settings, kind=kind):
        if not str(details.get(field) or "").strip():
            errors[field] = _("The %(field)s is required for %(kind)s customers.") % {
                "field": _(FIELD_LABELS.get(field, field)),
                "kind": _(str(Customer.Kind(kind).label).lower()),
            }

    vat_id = str(details.get("vat_id") or "").strip()
    if vat_id and "vat_id" not in errors:
        try:
            eu_vat.validate(vat_id)
        except StdnumValidationError:
            errors["vat_id"] = _(
                "“%(value)s” is not a valid EU VAT ID (country prefix and number, "
                "e.g. DE136695976)."
            ) % {"value": vat_id}

    email = str(details.get("email") or "").strip()
    if email and "email" not in errors:
        try:
            validate_email(email)
        except ValidationError:
            errors["email"] = _("“%(value)s” is not a valid e-mail address.") % {"value": email}

    country = str(details.get("country") or "").strip()
    if country and "country" not in errors and not (len(country) == 2 and country.isalpha()):
        errors["country"] = _("Use the two-letter country code (ISO 3166-1), e.g. DE.")
    return errors


def validate_invoice_details(
    *, kind: str, details: Mapping[str, object], settings: InvoicingSettings
) -> None:
    """Raise a ValidationError with one message per problem field; return if all is well."""
    errors = invoice_detail_errors(kind=kind, details=details, settings=settings)
    if errors:
        raise ValidationError(errors)


# What a driver may change about themselves in the portal; operator, billing mode and the
# e-mail collection date stay with the back-office.
PORTAL_EDITABLE_FIELDS = (*INVOICE_DETAIL_FIELDS, "kind", "language", "requires_invoice")
PORTAL_KINDS = (Customer.Kind.INDIVIDUAL, Customer.Kind.COMPANY)


class PortalAccountError(InvalidInput):
    """A portal account cannot be created or linked as asked."""


def update_invoice_details(*, customer: Customer, details: Mapping[str, object]) -> Customer:
    """Save a driver's own invoice details once the operator's rules pass; documents already
    issued keep the details frozen on them."""
    kind = str(details.get("kind") or customer.kind)
    if kind not in PORTAL_KINDS:
        raise ValidationError({"kind": _("Choose individual or company.")})
    try:
        settings = customer.operator.invoicing_settings
    except InvoicingSettings.DoesNotExist as exc:
        raise ValidationError(
            _("Your operator has not set up invoicing yet; please try again later.")
        ) from exc
    values = {name: details.get(name, getattr(customer, name)) for name in PORTAL_EDITABLE_FIELDS}
    for name in INVOICE_DETAIL_FIELDS:
        values[name] = str(values[name] or "").strip()
    values["kind"] = kind
    values["country"] = values["country"].upper()
    validate_invoice_details(kind=kind, details=values, settings=settings)
    values["vat_id"] = normalise_vat_id(values["vat_id"])
    values["requires_invoice"] = bool(values["requires_invoice"])
    with transaction.atomic():
        for name, value in values.items():
            setattr(customer, name, value)
        customer.save(update_fields=[*PORTAL_EDITABLE_FIELDS, "updated_at"])
    return customer


def create_portal_account(*, customer: Customer, password: str | None = None) -> AbstractBaseUser:
    """Give a driver (individual or company) a portal sign-in under the customer's e-mail; without
    a password the account can only be entered after a password reset by e-mail."""
    if customer.kind not in PORTAL_KINDS:
        raise PortalAccountError("Only individuals and companies get a portal account.")
    if customer.user_id is not None:
        raise PortalAccountError(f"{customer} already has a portal account.")
    email = customer.email.strip()
    if not email:
        raise PortalAccountError(f"{customer} has no e-mail address to sign in with.")
    User = get_user_model()
    if User.objects.filter(email__iexact=email).exists():
        raise PortalAccountError(f"An account with the e-mail {email} exists already.")
    with transaction.atomic():
        user = User.objects.create_user(
            username=email.lower(), email=email, password=password, is_staff=False
        )
        Customer.objects.filter(pk=customer.pk).update(user=user)
        customer.user = user
    return user


def get_anonymous_customer(*, operator: Operator) -> Customer:
    """The operator's one shared anonymous customer, created on first use."""
    customer, _created = Customer.objects.get_or_create(
        operator=operator, kind=Customer.Kind.ANONYMOUS
    )
    return customer


def erase_expired_ad_hoc_emails(*, now: datetime | None = None) -> int:
    """Blank ad-hoc e-mails collected over 30 days ago; sessions and documents stay intact."""
    cutoff = (now or timezone.now()) - AD_HOC_EMAIL_RETENTION
    with transaction.atomic():
        return (
            Customer.objects.filter(kind=Customer.Kind.AD_HOC, email_collected_at__lt=cutoff)
            .exclude(email="")
            .update(email="", updated_at=timezone.now())
        )
