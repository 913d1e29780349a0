"""SEPA direct-debit mandates: given in the portal or entered by staff, revoked by either."""

from __future__ import annotations

import secrets
from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from cpo_portal.kernel.errors import InvalidInput, StateConflict
from customers.models import Customer
from invoicing.payments.models import (
    MandateSource,
    MandateStatus,
    SepaMandate,
    SequenceType,
    validate_mandate_iban,
)


def active_mandate(customer: Customer) -> SepaMandate | None:
    """The one mandate invoices of this customer are collected under, if any."""
    return SepaMandate.objects.filter(customer=customer, status=MandateStatus.ACTIVE).first()


def new_mandate_reference(customer: Customer) -> str:
    """A mandate reference unique per creditor: the customer's number and a random tail (max 35)."""
    return f"M{customer.pk}-{secrets.token_hex(6).upper()}"[:35]


def give_mandate(
    *,
    customer: Customer,
    iban: str,
    account_holder: str,
    signed_on: date | None = None,
    bic: str = "",
    source: str = MandateSource.PORTAL,
    given_by=None,
) -> SepaMandate:
    """A new active mandate; the earlier active one is revoked (one account is debited)."""
    from schwifty import IBAN

    compact = "".join(iban.split()).upper()
    try:
        validate_mandate_iban(compact)
    except ValidationError as error:
        raise InvalidInput(error.messages[0], field="iban") from error
    if not account_holder.strip():
        raise InvalidInput(_("Enter the account holder."), field="account_holder")
    if not bic:
        derived = IBAN(compact).bic
        bic = str(derived) if derived else ""
    with transaction.atomic():
        for earlier in SepaMandate.objects.select_for_update().filter(
            customer=customer, status=MandateStatus.ACTIVE
        ):
            _revoke(earlier)
        return SepaMandate.objects.create(
            operator_id=customer.operator_id,
            customer=customer,
            iban=compact,
            bic=bic.replace(" ", "").upper(),
            account_holder=account_holder.strip()[:70],
            reference=new_mandate_reference(customer),
            signed_on=signed_on or timezone.localdate(),
            sequence_type=SequenceType.FIRST,
            source=source,
            created_by=given_by,
        )


def revoke_mandate(mandate: SepaMandate) -> SepaMandate:
    """A revoked mandate is never collected under again; revoking twice is a conflict."""
    with transaction.atomic():
        mandate = SepaMandate.objects.select_for_update().get(pk=mandate.pk)
        if mandate.status == MandateStatus.REVOKED:
            raise StateConflict(_("This mandate was already revoked."))
        _revoke(mandate)
    return mandate


def _revoke(mandate: SepaMandate) -> None:
    mandate.status = MandateStatus.REVOKED
    mandate.revoked_at = timezone.now()
    mandate.save(update_fields=["status", "revoked_at"])
