"""E-invoices at issue: who gets which format, what a customer must provide, and the XML of each
invoice and credit note built, validated and stored with it.

The XML is built and validated before the document takes its number (so the numbering series
is not locked while Saxon runs): with a placeholder in BT-1, the one value filled in after
numbering. The final XML is checked against the XML Schema again and stored with the report.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from customers.models import Customer, EInvoiceFormat
from invoicing.documents.composition import DocumentDraft, InvoicingError
from invoicing.documents.direct_debit import direct_debit_of
from invoicing.documents.models import Document, DocumentLine
from invoicing.einvoices import validation
from invoicing.einvoices.cii import to_cii
from invoicing.einvoices.models import EInvoice
from invoicing.einvoices.terms import Terms, build_terms, category_of
from invoicing.einvoices.ubl import to_ubl
from invoicing.setup.models import DocumentKind, InvoicingSettings

logger = logging.getLogger(__name__)

PLACEHOLDER_NUMBER = "PENDING-NUMBER"
XRECHNUNG = (EInvoiceFormat.XRECHNUNG_CII, EInvoiceFormat.XRECHNUNG_UBL)


class EInvoiceIncomplete(InvoicingError):
    """The customer or operator lacks details an e-invoice needs; the message lists them."""


class EInvoiceRejected(InvoicingError):
    """The e-invoice XML fails its schema or Schematron rules; the message names the rules."""

    def __init__(self, message: str, *, report: validation.ValidationReport):
        super().__init__(message)
        self.report = report
        self.failed_rules = report.failed_rules


def format_for(*, customer: Customer, settings: InvoicingSettings) -> str | None:
    """A company's own format, else the operator's default; individuals get none."""
    if customer.kind != Customer.Kind.COMPANY:
        return None
    fmt = customer.einvoice_format or settings.einvoice_format
    return None if fmt in ("", EInvoiceFormat.NONE) else fmt


def _format_of_draft(draft: DocumentDraft) -> str | None:
    document = draft.document
    if document.kind == DocumentKind.CREDIT_NOTE:
        # A credit note comes in the format of the invoice it cancels (or none).
        return (
            EInvoice.objects.filter(document_id=document.credited_document_id)
            .values_list("format", flat=True)
            .first()
        )
    if document.kind != DocumentKind.INVOICE:
        return None
    return format_for(customer=document.customer, settings=document.operator.invoicing_settings)


def missing_details(
    *, fmt: str, customer: Customer, settings: InvoicingSettings, reverse_charge: bool = False
) -> list[str]:
    """What the customer and operator must still provide for this format (empty when all)."""
    missing = []
    if fmt in XRECHNUNG and not customer.buyer_reference.strip():
        missing.append("customer: buyer reference (BT-10, the Leitweg-ID of a public body)")
    if reverse_charge and not customer.vat_id.strip():
        missing.append("customer: VAT ID (BT-48, required for a reverse charge)")
    for name, label in (
        ("street", "street"),
        ("postal_code", "postal code"),
        ("city", "city"),
        ("country", "country"),
    ):
        if not getattr(customer, name).strip():
            missing.append(f"customer: {label}")
    if fmt in XRECHNUNG and not customer.email.strip():
        missing.append("customer: e-mail (BT-49, the buyer's electronic address)")
    operator = settings.operator
    if not settings.iban.strip():
        missing.append("operator settings: IBAN (BT-84)")
    if fmt in XRECHNUNG and not operator.phone.strip():
        missing.append("operator: phone (BT-42, the seller contact)")
    if not (operator.vat_id.strip() or operator.tax_number.strip()):
        missing.append("operator: VAT ID or tax number (BT-31/BT-32)")
    return missing


def render(terms: Terms, fmt: str) -> bytes:
    return to_ubl(terms) if fmt == EInvoiceFormat.XRECHNUNG_UBL else to_cii(terms)


def _terms(document: Document, lines: Sequence[DocumentLine], fmt: str, number: str) -> Terms:
    settings = document.operator.invoicing_settings
    return build_terms(
        document=document,
        lines=lines,
        fmt=fmt,
        buyer_reference=document.customer.buyer_reference.strip(),
        iban=settings.iban,
        bic=settings.bic,
        number=number,
        direct_debit=direct_debit_of(document),
    )


@dataclass
class Prepared:
    fmt: str
    terms: Terms
    report: validation.ValidationReport


def prepare_einvoice(draft: DocumentDraft) -> Prepared | None:
    """Build and validate a draft's e-invoice (None when it gets none); raise before issue
    when details are missing or the XML breaks a rule, naming the fields or the rule ids."""
    fmt = _format_of_draft(draft)
    if fmt is None:
        return None
    document = draft.document
    customer = document.customer
    settings = document.operator.invoicing_settings
    reverse_charge = any(
        line.vat_rate == 0 and _is_reverse_charge(line.vat_note) for line in draft.lines
    )
    missing = missing_details(
        fmt=fmt, customer=customer, settings=settings, reverse_charge=reverse_charge
    )
    if missing:
        raise EInvoiceIncomplete(
            f"{customer} cannot receive an e-invoice ({EInvoiceFormat(fmt).label}) yet; "
            f"missing: {'; '.join(missing)}."
        )
    terms = _terms(document, draft.lines, fmt, PLACEHOLDER_NUMBER)
    report = check(render(terms, fmt), fmt=fmt)
    return Prepared(fmt=fmt, terms=terms, report=report)


def _is_reverse_charge(note: str) -> bool:
    return category_of(Decimal(0), note) == "AE"


def check(xml: bytes, *, fmt: str) -> validation.ValidationReport:
    """Validate XML of a format; raise EInvoiceRejected with the failing rule ids."""
    try:
        report = validation.validate(xml, fmt=fmt)
    except validation.RulesUnavailable as exc:
        raise InvoicingError(f"E-invoices cannot be validated: {exc}") from exc
    if not report.is_valid:
        details = "; ".join(
            [f"XSD: {error}" for error in report.schema_errors[:3]]
            + [f"{f.rule}: {f.text[:160]}" for f in report.errors[:5]]
        )
        raise EInvoiceRejected(
            f"The e-invoice ({EInvoiceFormat(fmt).label}) fails the rules "
            f"{', '.join(report.failed_rules)} and was not issued. {details}",
            report=report,
        )
    return report


def store_einvoices(drafts: Sequence[DocumentDraft]) -> list[EInvoice]:
    """Write the XML of the numbered documents, with their number, and its report."""
    rows = []
    for draft in drafts:
        prepared: Prepared | None = draft.attachments.get("einvoice")
        if prepared is None:
            continue
        prepared.terms.number = draft.document.display_number
        xml = render(prepared.terms, prepared.fmt)
        final = validation.schema_errors(xml, fmt=prepared.fmt)
        if final:
            raise EInvoiceRejected(
                f"The numbered e-invoice fails its schema: {final[0]}", report=prepared.report
            )
        rows.append(
            EInvoice(
                document=draft.document,
                format=prepared.fmt,
                xml=xml,
                sha256=hashlib.sha256(xml).hexdigest(),
                report=prepared.report.as_json(),
            )
        )
    return EInvoice.objects.bulk_create(rows)


class EInvoiceHook:
    """The documents layer's issue hook (registered in InvoicingConfig.ready())."""

    def prepare(self, draft: DocumentDraft) -> None:
        prepared = prepare_einvoice(draft)
        if prepared is not None:
            draft.attachments["einvoice"] = prepared

    def attach(self, drafts: Sequence[DocumentDraft]) -> None:
        store_einvoices(drafts)


hook = EInvoiceHook()


def einvoice_xml(document: Document | int) -> bytes | None:
    """The stored XML bytes of a document's e-invoice (None when it has none), for the archive."""
    document_id = document if isinstance(document, int) else document.pk
    xml = EInvoice.objects.filter(document_id=document_id).values_list("xml", flat=True).first()
    return bytes(xml) if xml is not None else None
