"""The business terms as OASIS UBL 2.1 Invoice or CreditNote, for XRechnung UBL."""

from __future__ import annotations

from decimal import Decimal

from lxml import etree

from invoicing.einvoices.terms import CREDIT_NOTE, PEPPOL_PROFILE, Party, Terms

CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
INVOICE_NS = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
CREDIT_NOTE_NS = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
PREFIXES = {"cac": CAC, "cbc": CBC}


def _el(parent, tag: str, text=None, **attrs):
    prefix, name = tag.split(":")
    element = etree.SubElement(parent, f"{{{PREFIXES[prefix]}}}{name}", **attrs)
    if text is not None:
        element.text = str(text)
    return element


def _amount(value: Decimal) -> str:
    return f"{value:.2f}"


def _party(parent, tag: str, party: Party, creditor_id: str = "") -> None:
    element = _el(_el(parent, tag), "cac:Party")
    if party.email:
        _el(element, "cbc:EndpointID", party.email, schemeID="EM")
    if creditor_id:  # BT-90: the seller's SEPA creditor identifier
        _el(_el(element, "cac:PartyIdentification"), "cbc:ID", creditor_id, schemeID="SEPA")
    address = _el(element, "cac:PostalAddress")
    _el(address, "cbc:StreetName", party.street)
    _el(address, "cbc:CityName", party.city)
    _el(address, "cbc:PostalZone", party.postal_code)
    _el(_el(address, "cac:Country"), "cbc:IdentificationCode", party.country)
    if party.vat_id:
        scheme = _el(element, "cac:PartyTaxScheme")
        _el(scheme, "cbc:CompanyID", party.vat_id)
        _el(_el(scheme, "cac:TaxScheme"), "cbc:ID", "VAT")
    if party.tax_number and tag == "cac:AccountingSupplierParty":
        scheme = _el(element, "cac:PartyTaxScheme")
        _el(scheme, "cbc:CompanyID", party.tax_number)
        _el(_el(scheme, "cac:TaxScheme"), "cbc:ID", "FC")
    legal = _el(element, "cac:PartyLegalEntity")
    _el(legal, "cbc:RegistrationName", party.name)
    if party.registration_id and tag == "cac:AccountingCustomerParty":
        _el(legal, "cbc:CompanyID", party.registration_id)
    if tag == "cac:AccountingSupplierParty":
        contact = _el(element, "cac:Contact")
        _el(contact, "cbc:Name", party.name)
        if party.phone:
            _el(contact, "cbc:Telephone", party.phone)
        if party.email:
            _el(contact, "cbc:ElectronicMail", party.email)


def _category(parent, tag: str, category: str, rate: Decimal, reason="", code="") -> None:
    element = _el(parent, tag)
    _el(element, "cbc:ID", category)
    _el(element, "cbc:Percent", _amount(rate))
    if code:
        _el(element, "cbc:TaxExemptionReasonCode", code)
    if reason:
        _el(element, "cbc:TaxExemptionReason", reason)
    _el(_el(element, "cac:TaxScheme"), "cbc:ID", "VAT")


def to_ubl(terms: Terms) -> bytes:
    """The UBL XML of these terms: an Invoice, or a CreditNote for type 381."""
    credit = terms.type_code == CREDIT_NOTE
    namespace = CREDIT_NOTE_NS if credit else INVOICE_NS
    root = etree.Element(
        f"{{{namespace}}}{'CreditNote' if credit else 'Invoice'}",
        nsmap={None: namespace, **PREFIXES},
    )
    _el(root, "cbc:CustomizationID", terms.profile)
    _el(root, "cbc:ProfileID", PEPPOL_PROFILE)  # BT-23, the business process
    _el(root, "cbc:ID", terms.number)
    _el(root, "cbc:IssueDate", terms.issue_date.isoformat())
    if not credit:
        _el(root, "cbc:DueDate", terms.due_date.isoformat())
    _el(root, "cbc:CreditNoteTypeCode" if credit else "cbc:InvoiceTypeCode", terms.type_code)
    for note in terms.notes:
        _el(root, "cbc:Note", note)
    _el(root, "cbc:DocumentCurrencyCode", terms.currency)
    if terms.buyer_reference:
        _el(root, "cbc:BuyerReference", terms.buyer_reference)
    period = _el(root, "cac:InvoicePeriod")
    _el(period, "cbc:StartDate", terms.period[0].isoformat())
    _el(period, "cbc:EndDate", terms.period[1].isoformat())
    if terms.preceding:
        reference = _el(_el(root, "cac:BillingReference"), "cac:InvoiceDocumentReference")
        _el(reference, "cbc:ID", terms.preceding[0])
        _el(reference, "cbc:IssueDate", terms.preceding[1].isoformat())
    debit = terms.direct_debit
    _party(root, "cac:AccountingSupplierParty", terms.seller, debit.creditor_id if debit else "")
    _party(root, "cac:AccountingCustomerParty", terms.buyer)
    means = _el(root, "cac:PaymentMeans")
    _el(means, "cbc:PaymentMeansCode", terms.payment_means)
    if credit:
        _el(means, "cbc:PaymentDueDate", terms.due_date.isoformat())
    if terms.direct_debit:
        mandate = _el(means, "cac:PaymentMandate")
        _el(mandate, "cbc:ID", terms.direct_debit.mandate_reference)  # BT-89
        _el(_el(mandate, "cac:PayerFinancialAccount"), "cbc:ID", terms.direct_debit.iban)  # BT-91
    elif terms.iban:
        account = _el(means, "cac:PayeeFinancialAccount")
        _el(account, "cbc:ID", terms.iban)
        if terms.bic:
            _el(_el(account, "cac:FinancialInstitutionBranch"), "cbc:ID", terms.bic)
    _el(_el(root, "cac:PaymentTerms"), "cbc:Note", terms.payment_terms)
    tax_total = _el(root, "cac:TaxTotal")
    _el(tax_total, "cbc:TaxAmount", _amount(terms.vat_total), currencyID=terms.currency)
    for row in terms.breakdown:
        subtotal = _el(tax_total, "cac:TaxSubtotal")
        _el(subtotal, "cbc:TaxableAmount", _amount(row.basis), currencyID=terms.currency)
        _el(subtotal, "cbc:TaxAmount", _amount(row.vat), currencyID=terms.currency)
        _category(subtotal, "cac:TaxCategory", row.category, row.rate, row.reason, row.reason_code)
    totals = _el(root, "cac:LegalMonetaryTotal")
    currency = {"currencyID": terms.currency}
    _el(totals, "cbc:LineExtensionAmount", _amount(terms.line_total), **currency)
    _el(totals, "cbc:TaxExclusiveAmount", _amount(terms.tax_basis), **currency)
    _el(totals, "cbc:TaxInclusiveAmount", _amount(terms.grand_total), **currency)
    _el(totals, "cbc:PayableAmount", _amount(terms.due_payable), **currency)
    for line in terms.lines:
        element = _el(root, "cac:CreditNoteLine" if credit else "cac:InvoiceLine")
        _el(element, "cbc:ID", line.id)
        quantity_tag = "cbc:CreditedQuantity" if credit else "cbc:InvoicedQuantity"
        _el(element, quantity_tag, line.quantity, unitCode=line.unit_code)
        _el(element, "cbc:LineExtensionAmount", _amount(line.net), **currency)
        item = _el(element, "cac:Item")
        _el(item, "cbc:Name", line.name)
        _category(item, "cac:ClassifiedTaxCategory", line.category, line.rate)
        _el(_el(element, "cac:Price"), "cbc:PriceAmount", line.price, **currency)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
