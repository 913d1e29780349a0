"""Whether an invoice will be collected by SEPA direct debit, and under which mandate."""

from __future__ import annotations

from dataclasses import dataclass

from invoicing.documents.models import Document
from invoicing.setup.models import DocumentKind, InvoicingSettings


@dataclass(frozen=True)
class DirectDebit:
    """The mandate (BT-89), the operator's creditor identifier (BT-90) and the debited
    account (BT-91) an invoice is collected under."""

    mandate_reference: str
    creditor_id: str
    iban: str
    iban_last_four: str


def direct_debit_of(document: Document) -> DirectDebit | None:
    """A euro invoice of a customer with an active SEPA mandate, issued by an operator with a
    creditor identifier, is collected by direct debit; anything else is paid by transfer."""
    if document.kind != DocumentKind.INVOICE or document.currency != "EUR":
        return None
    # Through the customer's reverse relation: payments is a higher layer than documents.
    mandate = document.customer.sepa_mandates.filter(status="active").first()
    creditor_id = (
        InvoicingSettings.objects.filter(operator_id=document.operator_id)
        .values_list("sepa_creditor_identifier", flat=True)
        .first()
    )
    if mandate is None or not creditor_id:
        return None
    return DirectDebit(
        mandate_reference=mandate.reference,
        creditor_id=creditor_id,
        iban=mandate.iban,
        iban_last_four=mandate.iban_last_four,
    )
