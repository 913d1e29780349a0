"""The business terms as UN/CEFACT Cross Industry Invoice (D16B), for XRechnung CII and Factur-X."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from lxml import etree

from invoicing.einvoices.terms import Party, Terms

RSM = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
UDT = "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100"
QDT = "urn:un:unece:uncefact:data:standard:QualifiedDataType:100"
NSMAP = {"rsm": RSM, "ram": RAM, "udt": UDT, "qdt": QDT}


def _el(parent, tag: str, text=None, **attrs):
    prefix, name = tag.split(":")
    element = etree.SubElement(parent, f"{{{NSMAP[prefix]}}}{name}", **attrs)
    if text is not None:
        element.text = str(text)
    return element


def _amount(value: Decimal) -> str:
    return f"{value:.2f}"


def _date(parent, tag: str, value: date, ns: str = "udt") -> None:
    _el(_el(parent, tag), f"{ns}:DateTimeString", value.strftime("%Y%m%d"), format="102")


def _party(parent, tag: str, party: Party, *, seller: bool) -> None:
    element = _el(parent, tag)
    _el(element, "ram:Name", party.name)
    if party.registration_id and not seller:
        _el(_el(element, "ram:SpecifiedLegalOrganization"), "ram:ID", party.registration_id)
    if seller:
        contact = _el(element, "ram:DefinedTradeContact")
        _el(contact, "ram:PersonName", party.name)
        if party.phone:
            _el(
                _el(contact, "ram:TelephoneUniversalCommunication"),
                "ram:CompleteNumber",
                party.phone,
            )
        if party.email:
            _el(_el(contact, "ram:EmailURIUniversalCommunication"), "ram:URIID", party.email)
    address = _el(element, "ram:PostalTradeAddress")
    _el(address, "ram:PostcodeCode", party.postal_code)
    _el(address, "ram:LineOne", party.street)
    _el(address, "ram:CityName", party.city)
    _el(address, "ram:CountryID", party.country)
    if party.email:
        _el(_el(element, "ram:URIUniversalCommunication"), "ram:URIID", party.email, schemeID="EM")
    if party.vat_id:
        _el(_el(element, "ram:SpecifiedTaxRegistration"), "ram:ID", party.vat_id, schemeID="VA")
    if party.tax_number and seller:
        _el(_el(element, "ram:SpecifiedTaxRegistration"), "ram:ID", party.tax_number, schemeID="FC")


def to_cii(terms: Terms) -> bytes:
    """The CII XML of these terms (UTF-8, with declaration)."""
    root = etree.Element(f"{{{RSM}}}CrossIndustryInvoice", nsmap=NSMAP)
    context = _el(root, "rsm:ExchangedDocumentContext")
    _el(_el(context, "ram:GuidelineSpecifiedDocumentContextParameter"), "ram:ID", terms.profile)
    header = _el(root, "rsm:ExchangedDocument")
    _el(header, "ram:ID", terms.number)
    _el(header, "ram:TypeCode", terms.type_code)
    _date(header, "ram:IssueDateTime", terms.issue_date)
    for note in terms.notes:
        _el(_el(header, "ram:IncludedNote"), "ram:Content", note)
    transaction = _el(root, "rsm:SupplyChainTradeTransaction")
    for line in terms.lines:
        item = _el(transaction, "ram:IncludedSupplyChainTradeLineItem")
        _el(_el(item, "ram:AssociatedDocumentLineDocument"), "ram:LineID", line.id)
        _el(_el(item, "ram:SpecifiedTradeProduct"), "ram:Name", line.name)
        agreement = _el(item, "ram:SpecifiedLineTradeAgreement")
        _el(_el(agreement, "ram:NetPriceProductTradePrice"), "ram:ChargeAmount", line.price)
        delivery = _el(item, "ram:SpecifiedLineTradeDelivery")
        _el(delivery, "ram:BilledQuantity", line.quantity, unitCode=line.unit_code)
        settlement = _el(item, "ram:SpecifiedLineTradeSettlement")
        tax = _el(settlement, "ram:ApplicableTradeTax")
        _el(tax, "ram:TypeCode", "VAT")
        _el(tax, "ram:CategoryCode", line.category)
        _el(tax, "ram:RateApplicablePercent", _amount(line.rate))
        summation = _el(settlement, "ram:SpecifiedTradeSettlementLineMonetarySummation")
        _el(summation, "ram:LineTotalAmount", _amount(line.net))
    agreement = _el(transaction, "ram:ApplicableHeaderTradeAgreement")
    if terms.buyer_reference:
        _el(agreement, "ram:BuyerReference", terms.buyer_reference)
    _party(agreement, "ram:SellerTradeParty", terms.seller, seller=True)
    _party(agreement, "ram:BuyerTradeParty", terms.buyer, seller=False)
    _el(transaction, "ram:ApplicableHeaderTradeDelivery")
    settlement = _el(transaction, "ram:ApplicableHeaderTradeSettlement")
    debit = terms.direct_debit
    if debit:
        _el(settlement, "ram:CreditorReferenceID", debit.creditor_id)  # BT-90
    _el(settlement, "ram:InvoiceCurrencyCode", terms.currency)
    means = _el(settlement, "ram:SpecifiedTradeSettlementPaymentMeans")
    _el(means, "ram:TypeCode", terms.payment_means)
    if debit:
        _el(_el(means, "ram:PayerPartyDebtorFinancialAccount"), "ram:IBANID", debit.iban)  # BT-91
    elif terms.iban:
        _el(_el(means, "ram:PayeePartyCreditorFinancialAccount"), "ram:IBANID", terms.iban)
        if terms.bic:
            institution = _el(means, "ram:PayeeSpecifiedCreditorFinancialInstitution")
            _el(institution, "ram:BICID", terms.bic)
    for row in terms.breakdown:
        tax = _el(settlement, "ram:ApplicableTradeTax")
        _el(tax, "ram:CalculatedAmount", _amount(row.vat))
        _el(tax, "ram:TypeCode", "VAT")
        if row.reason:
            _el(tax, "ram:ExemptionReason", row.reason)
        _el(tax, "ram:BasisAmount", _amount(row.basis))
        _el(tax, "ram:CategoryCode", row.category)
        if row.reason_code:
            _el(tax, "ram:ExemptionReasonCode", row.reason_code)
        _el(tax, "ram:RateApplicablePercent", _amount(row.rate))
    period = _el(settlement, "ram:BillingSpecifiedPeriod")
    _date(period, "ram:StartDateTime", terms.period[0])
    _date(period, "ram:EndDateTime", terms.period[1])
    payment_terms = _el(settlement, "ram:SpecifiedTradePaymentTerms")
    _el(payment_terms, "ram:Description", terms.payment_terms)
    _date(payment_terms, "ram:DueDateDateTime", terms.due_date)
    if debit:
        _el(payment_terms, "ram:DirectDebitMandateID", debit.mandate_reference)  # BT-89
    totals = _el(settlement, "ram:SpecifiedTradeSettlementHeaderMonetarySummation")
    _el(totals, "ram:LineTotalAmount", _amount(terms.line_total))
    _el(totals, "ram:TaxBasisTotalAmount", _amount(terms.tax_basis))
    _el(totals, "ram:TaxTotalAmount", _amount(terms.vat_total), currencyID=terms.currency)
    _el(totals, "ram:GrandTotalAmount", _amount(terms.grand_total))
    _el(totals, "ram:DuePayableAmount", _amount(terms.due_payable))
    if terms.preceding:
        reference = _el(settlement, "ram:InvoiceReferencedDocument")
        _el(reference, "ram:IssuerAssignedID", terms.preceding[0])
        _date(reference, "ram:FormattedIssueDateTime", terms.preceding[1], ns="qdt")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
