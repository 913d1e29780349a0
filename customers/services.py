"""Business operations on customers: invoice-detail cleaning and validation, creating and
changing customers (admin, API, portal and ingest alike), portal accounts, GDPR erasure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Protocol

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from stdnum.ch import vat as ch_vat
from stdnum.eu import vat as eu_vat
from stdnum.exceptions import ValidationError as StdnumValidationError
from stdnum.gb import vat as gb_vat
from stdnum.no import mva as no_vat

from cpo_portal.kernel.errors import InvalidInput
from cpo_portal.kernel.sms.phones import normalise_phone
from cpo_portal.kernel.tenancy import Operator
from customers.models import INVOICE_DETAIL_FIELDS, Customer

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


class MandatoryFields(Protocol):
    """Which invoice-detail fields an operator requires (its invoicing settings)."""

    mandatory_fields_individual: list[str] | None
    mandatory_fields_company: list[str] | None


def mandatory_invoice_fields(*, settings: MandatoryFields, kind: str) -> list[str]:
    """The invoice-detail fields the operator requires for this kind of customer."""
    if kind == Customer.Kind.COMPANY:
        return list(settings.mandatory_fields_company or [])
    if kind == Customer.Kind.INDIVIDUAL:
        return list(settings.mandatory_fields_individual or [])
    if kind == Customer.Kind.AD_HOC:
        return ["email"]
    return []


# VAT IDs of the non-EU countries the tax rules ship, by the prefix they are written with:
# Swiss UID (CHE-123.456.789 MWST), Norwegian MVA (NO 123 456 789 MVA), UK VAT (GB 123 4567 89).
# stdnum writes Norwegian and UK numbers without their prefix; documents print it.
NON_EU_VAT_IDS = {"CHE": (ch_vat, ""), "NO": (no_vat, "NO"), "GB": (gb_vat, "GB")}


def _non_eu_module(value: str):
    typed = value.strip().upper()
    return next((entry for p, entry in NON_EU_VAT_IDS.items() if typed.startswith(p)), None)


def validate_vat_id(value: str) -> str:
    """A valid EU, Swiss, Norwegian or UK VAT ID in compact form; raises stdnum's error."""
    found = _non_eu_module(value)
    if found is None:
        return eu_vat.validate(value)
    module, prefix = found
    return prefix + module.validate(value)


def normalise_vat_id(value: str) -> str:
    """A VAT ID without spaces, dots or dashes, upper case (how tax offices print it)."""
    if not value:
        return ""
    try:
        return validate_vat_id(value)
    except StdnumValidationError:
        return eu_vat.compact(value)


def _is_valid_vat_id(value: str) -> bool:
    try:
        validate_vat_id(value)
    except StdnumValidationError:
        return False
    return True


def clean_invoice_details(details: Mapping[str, object]) -> dict[str, str]:
    """The invoice details among `details`, as they are checked and stored: text without
    surrounding spaces, the country code in capitals, a valid VAT ID compact (an invalid one
    stays as typed, so its error quotes what the user wrote)."""
    cleaned: dict[str, str] = {}
    for name in INVOICE_DETAIL_FIELDS:
        if name not in details:
            continue
        value = str(details[name] or "").strip()
        if name == "country":
            value = value.upper()
        elif name == "vat_id" and value and _is_valid_vat_id(value):
            value = normalise_vat_id(value)
        cleaned[name] = value
    return cleaned


def invoice_detail_errors(
    *, kind: str, details: Mapping[str, object], settings: MandatoryFields
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
    if vat_id and "vat_id" not in errors and not _is_valid_vat_id(vat_id):
        if _non_eu_module(vat_id) is None:
            errors["vat_id"] = _(
                "“%(value)s” is not a valid EU VAT ID (country prefix and number, "
                "e.g. DE136695976)."
            ) % {"value": vat_id}
        else:
            errors["vat_id"] = _(
                "“%(value)s” is not a valid Swiss UID, Norwegian MVA or UK VAT number "
                "(e.g. CHE-116.281.710 MWST, NO 995 525 828 MVA, GB 980 7806 84)."
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


# --- creating and changing customers ------------------------------------------------------

# What a customer is made of, as the doors set it (the e-mail clock is the service's).
CUSTOMER_FIELDS = (
    "kind",
    *INVOICE_DETAIL_FIELDS,
    "mobile_phone",
    "language",
    "requires_invoice",
    "billing_mode",
    "user",
)


def operator_settings(operator: Operator) -> MandatoryFields | None:
    """The operator's invoicing settings, or None before it is set up."""
    try:
        return operator.invoicing_settings
    except ObjectDoesNotExist:
        return None


def customer_errors(
    *,
    values: Mapping[str, object],
    stored: Customer | None,
    operator: Operator,
    settings: MandatoryFields | None,
) -> dict[str, str]:
    """Why a customer may not be stored with these values (`stored`: as it is now, None when
    new), one message per field: the operator's anonymous customer is not edited, a subscriber's
    billing mode changes only by cancelling, an operator has one anonymous customer, and the
    invoice details the operator requires (unknown without settings) must be there and valid."""
    if stored is not None and stored.kind == Customer.Kind.ANONYMOUS:
        return {"kind": _("The operator's anonymous customer cannot be edited.")}
    if (
        stored is not None
        and stored.billing_mode == Customer.BillingMode.SUBSCRIPTION
        and values.get("billing_mode", stored.billing_mode) != stored.billing_mode
    ):
        return {"billing_mode": _("The customer is billed on a subscription; cancel it first.")}
    kind = str(values.get("kind") or (stored.kind if stored else ""))
    errors: dict[str, str] = {}
    if settings is not None:
        errors = invoice_detail_errors(kind=kind, details=values, settings=settings)
    elif kind in PORTAL_KINDS:
        errors["detail"] = _(
            "The operator “%(operator)s” has no invoicing settings yet, so its mandatory "
            "invoice details are unknown."
        ) % {"operator": operator}
    if phone_error := mobile_phone_error(values, operator=operator):
        errors["mobile_phone"] = phone_error
    if kind == Customer.Kind.ANONYMOUS:
        others = Customer.objects.filter(operator=operator, kind=Customer.Kind.ANONYMOUS)
        if stored is not None:
            others = others.exclude(pk=stored.pk)
        if others.exists():
            errors.setdefault(
                "kind",
                _(
                    "The operator already has its anonymous customer; every session "
                    "without details goes to that one."
                ),
            )
    return errors


def customer_mobile_phone(values: Mapping[str, object], *, operator: Operator) -> str:
    """The customer's mobile number in E.164; written without a country code it is read as
    one of the customer's country (or else the operator's)."""
    number = str(values.get("mobile_phone") or "").strip()
    if not number:
        return ""
    region = str(values.get("country") or "") or operator.country
    return normalise_phone(number, region, field="mobile_phone")


def mobile_phone_error(values: Mapping[str, object], *, operator: Operator) -> str | None:
    try:
        customer_mobile_phone(values, operator=operator)
    except InvalidInput as error:
        return str(error.errors["mobile_phone"][0])
    return None


def ad_hoc_email_collected_at(
    *, customer: Customer, stored: Customer | None, now: datetime
) -> datetime | None:
    """The clock of the 30-day erasure of ad-hoc e-mails: it starts when an ad-hoc customer's
    e-mail is given, and again whenever it is changed."""
    if customer.kind != Customer.Kind.AD_HOC or not customer.email:
        return customer.email_collected_at
    if stored is None or stored.email_collected_at is None or stored.email != customer.email:
        return now
    return stored.email_collected_at


def save_customer(*, customer: Customer, fields: Iterable[str] | None = None) -> Customer:
    """Store a new or changed customer once customer_errors pass (InvalidInput with one message
    per field otherwise), with its ad-hoc e-mail clock; `fields` limits what an update writes."""
    details = {name: getattr(customer, name) for name in INVOICE_DETAIL_FIELDS}
    for name, value in clean_invoice_details(details).items():
        setattr(customer, name, value)
    with transaction.atomic():
        stored = None
        if customer.pk is not None:
            stored = Customer.objects.select_for_update().get(pk=customer.pk)
        values = {name: getattr(customer, name) for name in CUSTOMER_FIELDS}
        errors = customer_errors(
            values=values,
            stored=stored,
            operator=customer.operator,
            settings=operator_settings(customer.operator),
        )
        if errors:
            raise InvalidInput(errors={name: [message] for name, message in errors.items()})
        customer.mobile_phone = customer_mobile_phone(values, operator=customer.operator)
        customer.email_collected_at = ad_hoc_email_collected_at(
            customer=customer, stored=stored, now=timezone.now()
        )
        if stored is None or fields is None:
            customer.save()
        else:
            customer.save(update_fields=[*fields, "email_collected_at", "updated_at"])
    return customer


def create_customer(*, operator: Operator, values: Mapping[str, object]) -> Customer:
    """A new customer of the operator with these values (see save_customer)."""
    customer = Customer(operator=operator)
    for name, value in values.items():
        setattr(customer, name, value)
    return save_customer(customer=customer)


def update_customer(*, customer: Customer, changes: Mapping[str, object]) -> Customer:
    """Change these values of the customer (see save_customer); only they are written."""
    for name, value in changes.items():
        setattr(customer, name, value)
    return save_customer(customer=customer, fields=list(changes))


# What a driver may change about themselves in the portal; operator, billing mode and the
# e-mail collection date stay with the back-office.
PORTAL_EDITABLE_FIELDS = (
    *INVOICE_DETAIL_FIELDS,
    "mobile_phone",
    "kind",
    "language",
    "requires_invoice",
)
PORTAL_KINDS = (Customer.Kind.INDIVIDUAL, Customer.Kind.COMPANY)


class PortalAccountError(InvalidInput):
    """A portal account cannot be created or linked as asked."""


def update_invoice_details(*, customer: Customer, details: Mapping[str, object]) -> Customer:
    """Save a driver's own invoice details once the operator's rules pass; documents already
    issued keep the details frozen on them."""
    kind = str(details.get("kind") or customer.kind)
    if kind not in PORTAL_KINDS:
        raise InvalidInput(_("Choose individual or company."), field="kind")
    if operator_settings(customer.operator) is None:
        raise InvalidInput(_("Your operator has not set up invoicing yet; please try again later."))
    values = {name: details.get(name, getattr(customer, name)) for name in PORTAL_EDITABLE_FIELDS}
    values["kind"] = kind
    values["requires_invoice"] = bool(values["requires_invoice"])
    return update_customer(customer=customer, changes=values)


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
