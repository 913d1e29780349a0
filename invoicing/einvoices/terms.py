"""A frozen document mapped to the EN 16931 business terms (BT/BG), ready for CII or UBL.

Everything comes from the document as issued (its recipient block, lines, VAT summary and frozen
supplier profile); only the buyer reference (BT-10) and the payee account (BT-84) are read at
issue, from the customer and the operator's settings, and are frozen inside the XML.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from cpo_portal.kernel.money import ZERO, vat_amount
from customers.models import EInvoiceFormat
from invoicing.documents.direct_debit import DirectDebit
from invoicing.documents.models import Document, DocumentLine
from invoicing.setup.models import DocumentKind
from invoicing.tax.models import REVERSE_CHARGE_TEXT

XRECHNUNG_ID = "urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0"
EN16931_ID = "urn:cen.eu:en16931:2017"
PEPPOL_PROFILE = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"
# UN/ECE Recommendation 20 codes of the document units (BT-130).
UNIT_CODES = {
    DocumentLine.Unit.KWH: "KWH",
    DocumentLine.Unit.MINUTE: "MIN",
    DocumentLine.Unit.PACKAGE: "C62",
    DocumentLine.Unit.MONTH: "MON",
    "hour": "HUR",
}
# How a printed VAT note says the customer accounts for the VAT (category AE).
REVERSE_CHARGE_MARKERS = ("reverse charge", "steuerschuldnerschaft", "autoliquidation", "194")
INVOICE, CREDIT_NOTE = "380", "381"
SEPA_CREDIT_TRANSFER, CREDIT_TRANSFER, SEPA_DIRECT_DEBIT = "58", "30", "59"


@dataclass
class Party:
    """Seller (BG-4) or buyer (BG-7): name, address, VAT ID, electronic address and contact."""

    name: str
    street: str
    postal_code: str
    city: str
    country: str
    vat_id: str = ""
    tax_number: str = ""
    email: str = ""
    phone: str = ""
    registration_id: str = ""


@dataclass
class Line:
    """An invoice line (BG-25): BT-126 id, BT-129/130 quantity, BT-146 net price, BT-131 net."""

    id: str
    name: str
    quantity: Decimal
    unit_code: str
    price: Decimal
    net: Decimal
    category: str
    rate: Decimal


@dataclass
class VatBreakdown:
    """A row of the VAT breakdown (BG-23) per category and rate, with the exemption reason."""

    category: str
    rate: Decimal
    basis: Decimal
    vat: Decimal
    reason: str = ""
    reason_code: str = ""


@dataclass
class Terms:
    """The business terms of one invoice or credit note."""

    profile: str
    number: str
    type_code: str
    issue_date: date
    due_date: date
    currency: str
    buyer_reference: str
    seller: Party
    buyer: Party
    period: tuple[date, date]
    payment_terms: str
    payment_means: str
    iban: str
    bic: str
    lines: list[Line]
    breakdown: list[VatBreakdown]
    line_total: Decimal
    tax_basis: Decimal
    vat_total: Decimal
    grand_total: Decimal
    due_payable: Decimal
    notes: list[str] = field(default_factory=list)
    preceding: tuple[str, date] | None = None
    # BG-19, when the invoice is collected by SEPA direct debit (payment means 59).
    direct_debit: DirectDebit | None = None


def category_of(rate: Decimal, note: str) -> str:
    """UNCL 5305 category: S with VAT, AE for a reverse charge, E exempt (with its reason), Z."""
    if rate > 0:
        return "S"
    text = (note or "").lower()
    if note == REVERSE_CHARGE_TEXT or any(marker in text for marker in REVERSE_CHARGE_MARKERS):
        return "AE"
    return "E" if note else "Z"


def _plain(value: Decimal) -> Decimal:
    """A quantity or price without trailing zeros (kept exact, never rounded)."""
    value = Decimal(value)
    return value.quantize(Decimal(1)) if value == value.to_integral() else value.normalize()


def build_terms(
    *,
    document: Document,
    lines: Sequence[DocumentLine],
    fmt: str,
    buyer_reference: str,
    iban: str,
    bic: str = "",
    number: str | None = None,
    direct_debit: DirectDebit | None = None,
) -> Terms:
    """The business terms of a document; a credit note states its amounts as positive values
    of type 381 and refers to the invoice it cancels (BG-3)."""
    sign = -1 if document.kind == DocumentKind.CREDIT_NOTE else 1
    supplier = document.profile.supplier
    seller_vat = document.supplier_vat_id or supplier.get("vat_id", "")
    if ":" in seller_vat or "," in seller_vat:  # several registrations printed: the home one
        seller_vat = supplier.get("vat_id", "")
    seller = Party(
        name=supplier.get("legal_name") or supplier.get("name", ""),
        street=supplier.get("street", ""),
        postal_code=supplier.get("postal_code", ""),
        city=supplier.get("city", ""),
        country=supplier.get("country", ""),
        vat_id=seller_vat,
        tax_number=supplier.get("tax_number", ""),
        email=supplier.get("email", ""),
        phone=supplier.get("phone", ""),
    )
    buyer = Party(
        name=document.recipient_name,
        street=document.recipient_street,
        postal_code=document.recipient_postal_code,
        city=document.recipient_city,
        country=document.recipient_country,
        vat_id=document.recipient_vat_id,
        email=document.recipient_email,
        registration_id=document.recipient_company_registration_id,
    )
    out_lines = []
    for line in lines:
        quantity = line.quantity * sign
        price = Decimal(line.unit_price)
        if price < 0:  # BR-27: the net price is never negative; the quantity carries the sign
            price, quantity = -price, -quantity
        out_lines.append(
            Line(
                id=str(line.position),
                name=line.description,
                quantity=_plain(quantity),
                unit_code=UNIT_CODES.get(line.unit, "C62"),
                price=_plain(price),
                net=line.net * sign,
                category=category_of(line.vat_rate, line.vat_note),
                rate=Decimal(line.vat_rate),
            )
        )
    breakdown: dict[tuple[str, Decimal], VatBreakdown] = {}
    for line in out_lines:
        key = (line.category, line.rate)
        row = breakdown.setdefault(key, VatBreakdown(line.category, line.rate, ZERO, ZERO))
        row.basis += line.net
    notes_by_key: dict[tuple[str, Decimal], list[str]] = {}
    for line in lines:
        key = (category_of(line.vat_rate, line.vat_note), Decimal(line.vat_rate))
        if line.vat_note and line.vat_note not in notes_by_key.setdefault(key, []):
            notes_by_key[key].append(line.vat_note)
    for key, row in breakdown.items():
        # BR-CO-17: the VAT of a category and rate is its basis times the rate, rounded once.
        row.vat = vat_amount(row.basis, row.rate)
        if row.category == "AE":
            row.reason = "; ".join(notes_by_key.get(key, [])) or REVERSE_CHARGE_TEXT
            row.reason_code = "VATEX-EU-AE"
        elif row.category == "E":
            row.reason = "; ".join(notes_by_key.get(key, []))
    rows = sorted(breakdown.values(), key=lambda r: (r.category, r.rate))
    line_total = sum((line.net for line in out_lines), ZERO)
    vat_total = sum((row.vat for row in rows), ZERO)
    profile = EN16931_ID if fmt == EInvoiceFormat.FACTURX else XRECHNUNG_ID
    preceding = None
    notes = []
    if document.kind == DocumentKind.CREDIT_NOTE:
        original = document.credited_document
        preceding = (original.display_number, original.issue_date)
        if document.reason:
            notes.append(document.reason)
    grand_total = line_total + vat_total
    return Terms(
        profile=profile,
        number=number if number is not None else document.display_number,
        type_code=CREDIT_NOTE if document.kind == DocumentKind.CREDIT_NOTE else INVOICE,
        issue_date=document.issue_date,
        due_date=document.due_date,
        currency=document.currency,
        buyer_reference=buyer_reference,
        seller=seller,
        buyer=buyer,
        period=(document.period_start, document.period_end),
        payment_terms=f"Payable by {document.due_date:%Y-%m-%d} without deduction.",
        payment_means=(
            SEPA_DIRECT_DEBIT if direct_debit else SEPA_CREDIT_TRANSFER if iban else CREDIT_TRANSFER
        ),
        iban=iban.replace(" ", "").upper(),
        bic=bic.strip().upper(),
        lines=out_lines,
        breakdown=rows,
        line_total=line_total,
        tax_basis=line_total,
        vat_total=vat_total,
        grand_total=grand_total,
        due_payable=grand_total,
        notes=notes,
        preceding=preceding,
        direct_debit=direct_debit,
    )
