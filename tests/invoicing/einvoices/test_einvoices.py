"""E-invoices issued with invoices and credit notes: valid XML per format, the business terms it
carries, what holds a customer before issue, and where the XML is delivered."""

from __future__ import annotations

import io
from decimal import Decimal

import facturx
import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from lxml import etree
from PIL import ImageCms
from pypdf import PdfReader

from customers.models import EInvoiceFormat
from customers.notifications.sending import send_message
from invoicing.archive.archiving import read_entry
from invoicing.archive.models import ArchiveKind
from invoicing.archive.sources import archive_document
from invoicing.archive.verification import verify_archive
from invoicing.billing.runs import rebill_failed_customers
from invoicing.documents.issuing import issue_credit_note, issue_session_documents
from invoicing.einvoices import validation
from invoicing.einvoices.issuing import einvoice_xml
from invoicing.models import BilledSession, Document, EInvoice, HeldSession, InvoicingSettings
from invoicing.output import document_messages, emails, pdf
from invoicing.output.models import EmailDelivery
from invoicing.payments.mandates import give_mandate
from tests.factories import CompanyCustomerFactory
from tests.invoicing.einvoices.conftest import LEITWEG_ID
from tests.invoicing.helpers import issue_invoice_for, make_priced_session

NS = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
}
CII_TOTALS = "//ram:SpecifiedTradeSettlementHeaderMonetarySummation"


def xml_of(document: Document) -> etree._Element:
    return etree.fromstring(einvoice_xml(document))


def text(tree, path: str) -> str:
    return tree.xpath(f"string({path})", namespaces=NS)


@pytest.mark.parametrize(
    ("fmt", "rule_sets"),
    [
        (EInvoiceFormat.XRECHNUNG_CII, ["EN16931-CII", "XRechnung-CII"]),
        (EInvoiceFormat.XRECHNUNG_UBL, ["EN16931-UBL", "XRechnung-UBL"]),
        (EInvoiceFormat.FACTURX, ["EN16931-CII"]),
    ],
)
def test_every_format_is_issued_valid_against_schema_and_schematron(public_body, fmt, rule_sets):
    public_body.einvoice_format = fmt
    public_body.save()

    document = issue_invoice_for(public_body, sessions=2)

    einvoice = EInvoice.objects.get(document=document)
    assert einvoice.format == fmt
    assert einvoice.report["valid"] is True
    assert einvoice.report["schema_errors"] == []
    assert sorted(einvoice.report["rule_sets"]) == rule_sets
    assert "XRechnung Schematron 2.5.0" in str(einvoice.report) or fmt == EInvoiceFormat.FACTURX
    # The stored bytes are what validates (checked again, with the number filled in).
    assert validation.validate(bytes(einvoice.xml), fmt=fmt).is_valid


@pytest.mark.parametrize("fmt", [EInvoiceFormat.XRECHNUNG_CII, EInvoiceFormat.XRECHNUNG_UBL])
def test_an_invoice_collected_by_direct_debit_names_the_mandate_creditor_and_debited_account(
    public_body, fmt
):
    InvoicingSettings.objects.filter(operator=public_body.operator).update(
        sepa_creditor_identifier="DE98ZZZ09999999999"
    )
    public_body.einvoice_format = fmt
    public_body.save()
    mandate = give_mandate(
        customer=public_body, iban="DE89 3704 0044 0532 0130 00", account_holder="Bezirksamt"
    )

    document = issue_invoice_for(public_body, sessions=2)

    einvoice = EInvoice.objects.get(document=document)
    assert einvoice.report["valid"] is True, einvoice.report
    tree = xml_of(document)
    if fmt == EInvoiceFormat.XRECHNUNG_CII:
        means = "//ram:SpecifiedTradeSettlementPaymentMeans"
        assert text(tree, f"{means}/ram:TypeCode") == "59"  # BT-81
        assert text(tree, "//ram:DirectDebitMandateID") == mandate.reference  # BT-89
        assert text(tree, "//ram:CreditorReferenceID") == "DE98ZZZ09999999999"  # BT-90
        debited = f"{means}/ram:PayerPartyDebtorFinancialAccount/ram:IBANID"
        assert text(tree, debited) == "DE89370400440532013000"  # BT-91
        # The operator's own account is not offered for a transfer the bank collects anyway.
        assert not tree.xpath("//ram:PayeePartyCreditorFinancialAccount", namespaces=NS)
    else:
        assert text(tree, "//cac:PaymentMeans/cbc:PaymentMeansCode") == "59"
        assert text(tree, "//cac:PaymentMandate/cbc:ID") == mandate.reference
        supplier_id = "//cac:AccountingSupplierParty//cac:PartyIdentification/cbc:ID"
        assert text(tree, supplier_id) == "DE98ZZZ09999999999"
        assert text(tree, f"{supplier_id}/@schemeID") == "SEPA"
        assert text(tree, "//cac:PayerFinancialAccount/cbc:ID") == "DE89370400440532013000"


def test_the_cii_carries_the_business_terms_of_the_frozen_document(public_body):
    document = issue_invoice_for(public_body, sessions=2)
    tree = xml_of(document)

    assert text(tree, "//rsm:ExchangedDocument/ram:ID") == document.display_number  # BT-1
    assert text(tree, "//rsm:ExchangedDocument/ram:TypeCode") == "380"  # BT-3
    assert text(tree, "//ram:BuyerReference") == LEITWEG_ID  # BT-10
    seller = "//ram:SellerTradeParty"
    assert text(tree, f"{seller}/ram:Name") == "VoltWay Charging GmbH"
    assert text(tree, f"{seller}/ram:SpecifiedTaxRegistration/ram:ID") == "DE136695976"
    buyer = "//ram:BuyerTradeParty"
    assert text(tree, f"{buyer}/ram:Name") == "Bezirksamt Mitte von Berlin"
    assert text(tree, f"{buyer}/ram:PostalTradeAddress/ram:CityName") == "Berlin"
    assert text(tree, "//ram:IBANID") == "DE02120300000000202051"  # BT-84
    assert text(tree, "//ram:SpecifiedTradeSettlementPaymentMeans/ram:TypeCode") == "58"
    units = tree.xpath("//ram:BilledQuantity/@unitCode", namespaces=NS)
    assert "KWH" in units and set(units) <= {"KWH", "MIN", "C62", "HUR"}
    assert set(tree.xpath("//ram:CategoryCode/text()", namespaces=NS)) == {"S"}
    # BR-CO-10..17: the totals are the document's.
    assert Decimal(text(tree, f"{CII_TOTALS}/ram:LineTotalAmount")) == document.total_net
    assert Decimal(text(tree, f"{CII_TOTALS}/ram:TaxTotalAmount")) == document.total_vat
    assert Decimal(text(tree, f"{CII_TOTALS}/ram:GrandTotalAmount")) == document.total_gross
    assert Decimal(text(tree, f"{CII_TOTALS}/ram:DuePayableAmount")) == document.total_gross


@pytest.mark.parametrize("fmt", [EInvoiceFormat.XRECHNUNG_CII, EInvoiceFormat.XRECHNUNG_UBL])
def test_a_credit_note_refers_to_the_invoice_it_cancels(public_body, fmt):
    public_body.einvoice_format = fmt
    public_body.save()
    invoice = issue_invoice_for(public_body)

    credit_note, _ = issue_credit_note(document=invoice, reason="Wrong tariff")

    einvoice = EInvoice.objects.get(document=credit_note)
    assert einvoice.report["valid"] is True
    tree = xml_of(credit_note)
    if fmt == EInvoiceFormat.XRECHNUNG_CII:
        assert text(tree, "//rsm:ExchangedDocument/ram:TypeCode") == "381"
        reference = "//ram:InvoiceReferencedDocument/ram:IssuerAssignedID"
        assert text(tree, reference) == invoice.display_number  # BG-3
        assert Decimal(text(tree, f"{CII_TOTALS}/ram:GrandTotalAmount")) == invoice.total_gross
    else:
        assert etree.QName(tree).localname == "CreditNote"
        assert text(tree, "//cbc:CreditNoteTypeCode") == "381"
        reference = "//cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID"
        assert text(tree, reference) == invoice.display_number
        assert Decimal(text(tree, "//cbc:PayableAmount")) == invoice.total_gross


def test_a_business_of_another_country_gets_reverse_charge_with_its_reason(einvoicing):
    french = CompanyCustomerFactory(
        operator=einvoicing,
        company_name="Recharge Lyon SAS",
        vat_id="FR61954506077",
        country="FR",
        city="Lyon",
        postal_code="69001",
        einvoice_format=EInvoiceFormat.FACTURX,
    )

    document = issue_invoice_for(french)

    assert EInvoice.objects.get(document=document).report["valid"] is True
    tree = xml_of(document)
    header_tax = "//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax"
    assert text(tree, f"{header_tax}/ram:CategoryCode") == "AE"
    assert text(tree, f"{header_tax}/ram:ExemptionReasonCode") == "VATEX-EU-AE"
    assert "reverse charge" in text(tree, f"{header_tax}/ram:ExemptionReason").lower()
    assert text(tree, "//ram:BuyerTradeParty/ram:SpecifiedTaxRegistration/ram:ID") == (
        "FR61954506077"
    )
    assert Decimal(text(tree, f"{CII_TOTALS}/ram:TaxTotalAmount")) == 0


def test_individuals_and_operators_without_a_format_get_a_pdf_only(einvoicing, monthly_company):
    InvoicingSettings.objects.filter(operator=einvoicing).update(
        einvoice_format=EInvoiceFormat.NONE
    )
    customer = CompanyCustomerFactory(operator=einvoicing)

    document = issue_invoice_for(customer)

    assert not EInvoice.objects.filter(document=document).exists()
    assert einvoice_xml(document) is None


# --- validation catches what is wrong -----------------------------------------------------------


def test_the_schematron_reports_a_deliberately_invalid_invoice_by_rule_id(public_body):
    document = issue_invoice_for(public_body)
    tree = xml_of(document)
    # No buyer reference (XRechnung BR-DE-15) and a grand total that is not net + VAT (BR-CO-15).
    (reference,) = tree.xpath("//ram:BuyerReference", namespaces=NS)
    reference.getparent().remove(reference)
    (grand_total,) = tree.xpath(f"{CII_TOTALS}/ram:GrandTotalAmount", namespaces=NS)
    grand_total.text = str(Decimal(grand_total.text) + 1)
    broken = etree.tostring(tree, xml_declaration=True, encoding="UTF-8")

    report = validation.validate(broken, fmt=EInvoiceFormat.XRECHNUNG_CII)

    assert not report.is_valid
    assert "BR-DE-15" in [f.rule for f in report.findings["XRechnung-CII"]]
    assert "BR-CO-15" in [f.rule for f in report.findings["EN16931-CII"]]
    assert {"BR-DE-15", "BR-CO-15"} <= set(report.failed_rules)


@pytest.mark.postgres
@pytest.mark.parametrize(
    "change",
    [
        {"xml": b"<Invoice/>"},
        {"report": {"valid": True, "schema_errors": [], "rule_sets": {}}},
        {"sha256": "0" * 64},
        {"format": EInvoiceFormat.XRECHNUNG_UBL},
    ],
)
def test_the_database_refuses_changes_to_the_e_invoice_of_an_issued_document(public_body, change):
    document = issue_invoice_for(public_body)
    stored = einvoice_xml(document)

    with pytest.raises(IntegrityError, match="e-invoice of issued document"), transaction.atomic():
        EInvoice.objects.filter(document=document).update(**change)
    with pytest.raises(IntegrityError, match="cannot be changed or deleted"), transaction.atomic():
        EInvoice.objects.filter(document=document)._raw_delete(connection.alias)

    assert einvoice_xml(document) == stored


def test_the_xml_schema_reports_an_element_out_of_place(public_body):
    document = issue_invoice_for(public_body)
    tree = xml_of(document)
    (header,) = tree.xpath("//rsm:ExchangedDocument", namespaces=NS)
    etree.SubElement(header, f"{{{NS['ram']}}}Surprise").text = "x"

    report = validation.validate(etree.tostring(tree), fmt=EInvoiceFormat.XRECHNUNG_CII)

    assert report.failed_rules[0] == "XSD"
    assert "Surprise" in report.schema_errors[0]


@pytest.mark.bad_input
def test_a_customer_lacking_e_invoice_details_is_held_with_the_list_of_fields(einvoicing):
    InvoicingSettings.objects.filter(operator=einvoicing).update(iban="")
    customer = CompanyCustomerFactory(operator=einvoicing, company_name="Landesamt ohne Leitweg")

    with pytest.raises(AssertionError) as held:
        issue_invoice_for(customer)

    message = str(held.value)
    assert "buyer reference (BT-10" in message
    assert "IBAN (BT-84)" in message
    assert not Document.objects.filter(customer=customer).exists()
    assert not BilledSession.objects.filter(session__customer=customer).exists()

    customer.buyer_reference = LEITWEG_ID
    customer.save()
    InvoicingSettings.objects.filter(operator=einvoicing).update(iban="DE02120300000000202051")
    run = customer.billing_errors.get().run
    result = rebill_failed_customers(run=run)

    assert result.failures == {}
    assert EInvoice.objects.get(document__customer=customer).report["valid"] is True


@pytest.mark.bad_input
def test_an_invoice_whose_xml_breaks_a_rule_is_held_naming_the_rule(public_body):
    # Imported data can hold what the forms refuse: a country code outside ISO 3166.
    type(public_body).objects.filter(pk=public_body.pk).update(country="XK")
    public_body.refresh_from_db()

    with pytest.raises(AssertionError) as held:
        issue_invoice_for(public_body)

    # The country code list check of the EN 16931 CII rules (Factur-X's rule id for BR-CL-14).
    assert "fails the rules FX-SCH-A-000568" in str(held.value)
    assert "CountryID" in str(held.value)
    assert not Document.objects.filter(customer=public_body).exists()


@pytest.mark.bad_input
def test_a_per_session_invoice_whose_xml_breaks_a_rule_is_listed_for_staff_with_the_rule(
    public_body, admin_client
):
    public_body.billing_mode = "per_session"
    public_body.save()
    type(public_body).objects.filter(pk=public_body.pk).update(country="XK")
    session = make_priced_session(public_body.operator, public_body)

    assert issue_session_documents(session_ids=[session.pk]) == []

    held = HeldSession.objects.get(session=session)
    assert "FX-SCH-A-000568" in held.failed_rules
    listing = admin_client.get("/admin/invoicing/heldsession/").content.decode()
    assert "FX-SCH-A-000568" in listing and "Bezirksamt Mitte" in listing

    # Fixed, and tried again from the list: issued, and no longer held.
    type(public_body).objects.filter(pk=public_body.pk).update(country="DE")
    response = admin_client.post(
        "/admin/invoicing/heldsession/",
        {"action": "issue_again", "_selected_action": [held.pk]},
        follow=True,
    )
    assert "1 of 1 issued; 0 still held." in response.content.decode()
    assert not HeldSession.objects.exists()
    assert EInvoice.objects.get(document__customer=public_body).report["valid"] is True


# --- delivery ----------------------------------------------------------------------------------


def test_the_factur_x_pdf_embeds_the_issued_xml_with_its_metadata(public_body):
    public_body.einvoice_format = EInvoiceFormat.FACTURX
    public_body.save()
    document = issue_invoice_for(public_body)

    document_file, _created = pdf.store_document_pdf(document_id=document.pk)

    with document_file.file.open("rb") as handle:
        data = handle.read()
    filename, embedded = facturx.get_xml_from_pdf(data, check_xsd=False)
    assert filename == "factur-x.xml"
    assert embedded == einvoice_xml(document)
    assert b"<fx:ConformanceLevel>EN 16931</fx:ConformanceLevel>" in data or (b"EN 16931" in data)
    # The PDF/A output intent: an embedded sRGB ICC profile a colour engine reads as sRGB.
    root = PdfReader(io.BytesIO(data)).trailer["/Root"]
    (intent,) = [i.get_object() for i in root["/OutputIntents"]]
    assert intent["/S"] == "/GTS_PDFA1"
    assert intent["/OutputConditionIdentifier"] == "sRGB IEC61966-2.1"
    icc = intent["/DestOutputProfile"].get_object()
    assert icc["/N"] == 3
    profile = ImageCms.ImageCmsProfile(io.BytesIO(icc.get_data()))
    assert "sRGB" in ImageCms.getProfileDescription(profile)
    assert b"pdfaid:part>3<" in data or b'pdfaid:part="3"' in data


def test_the_invoice_email_attaches_the_xrechnung(public_body):
    document = issue_invoice_for(public_body)
    document_file, _created = pdf.store_document_pdf(document_id=document.pk)
    delivery = EmailDelivery.objects.create(
        document=document, document_file=document_file, recipient="a@example.org", language="en"
    )

    message = emails.build_message(delivery)

    names = [attachment[0] for attachment in message.attachments]
    assert names == [
        f"{document.display_number}.pdf",
        f"{document.display_number}-xrechnung_cii.xml",
    ]
    assert message.attachments[1][1] == einvoice_xml(document)


def test_the_outbox_e_mail_of_the_invoice_attaches_the_xrechnung(public_body):
    document = issue_invoice_for(public_body)
    pdf.store_document_pdf(document_id=document.pk)

    message = document_messages.resend(document=document, recipient="a@example.org")
    assert send_message(message.pk) == "sent"

    (email,) = [m for m in mail.outbox if m.to == ["a@example.org"]]
    assert [(a[0], a[2]) for a in email.attachments] == [
        (f"{document.display_number}.pdf", "application/pdf"),
        (f"{document.display_number}-xrechnung_cii.xml", "application/xml"),
    ]
    assert email.attachments[1][1] == einvoice_xml(document)


def test_the_api_admin_and_portal_download_the_xml(api, admin_client, public_body, client):
    document = issue_invoice_for(public_body)

    response = api.get(f"/api/v1/invoices/{document.pk}/einvoice/", Accept="application/xml")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/xml"
    assert response.content == einvoice_xml(document)

    page = admin_client.get(f"/admin/invoicing/document/{document.pk}/change/")
    assert b"XRechnung (CII)" in page.content and b"XRechnung Schematron 2.5.0" in page.content
    download = admin_client.get(f"/admin/invoicing/document/{document.pk}/einvoice/")
    assert download.content == einvoice_xml(document)


def test_the_api_says_404_for_a_document_without_an_e_invoice(api, per_session_customer):
    document = issue_invoice_for(per_session_customer)

    response = api.get(f"/api/v1/invoices/{document.pk}/einvoice/", Accept="application/xml")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"


@pytest.mark.bad_input
def test_the_operator_settings_refuse_an_iban_with_wrong_check_digits(einvoicing):
    settings = InvoicingSettings.objects.get(operator=einvoicing)
    settings.iban = "DE00 1203 0000 0000 2020 51"

    with pytest.raises(ValidationError) as refused:
        settings.full_clean()

    assert "Enter a valid IBAN" in str(refused.value.message_dict["iban"])


def test_the_issued_xml_goes_into_the_archive_with_the_pdf(public_body, settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "archive": {
            "BACKEND": "invoicing.archive.storage.WriteOnceFileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "archive")},
        },
    }
    document = issue_invoice_for(public_body, sessions=1)
    pdf.store_document_pdf(document_id=document.pk)

    entries = archive_document(document_id=document.pk)

    (xml_entry,) = [e for e in entries if e.kind == ArchiveKind.EINVOICE_XML]
    assert xml_entry.reference == document.display_number
    assert read_entry(xml_entry) == einvoice_xml(document)
    assert verify_archive().intact
