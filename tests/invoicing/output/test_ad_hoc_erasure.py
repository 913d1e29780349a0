"""An ad-hoc driver's e-mail is gone everywhere 30 days after it was collected: customer,
receipt, e-mail deliveries, session payload, API answers, admin search and the PDF."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from customers.models import Customer
from invoicing.documents.issuing import issue_session_documents
from invoicing.models import InvoicingSettings
from invoicing.output import pdf
from invoicing.output.document_messages import resend
from invoicing.output.erasure import erase_expired_ad_hoc_addresses
from tests.invoicing.tax.test_tax_rules import pdf_text

ADDRESS = "rider.adhoc@example.net"
TABLES = [
    "customers_customer",
    "invoicing_document",
    "customers_outboundmessage",
    "charging_chargingsession",
]


def rows_with_address() -> dict[str, int]:
    found = {}
    with connection.cursor() as cursor:
        for table in TABLES:
            cursor.execute(
                f"SELECT count(*) FROM {table} t WHERE t::text ILIKE %s",  # noqa: S608
                [f"%{ADDRESS}%"],
            )
            found[table] = cursor.fetchone()[0]
    return found


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_31_day_old_ad_hoc_receipt_keeps_the_address_nowhere(
    api, admin_client, charge, invoicing_settings
):
    invoicing_settings.issuing_schedule = InvoicingSettings.IssuingSchedule.PER_SESSION
    invoicing_settings.always_issue = True
    invoicing_settings.save()
    now = timezone.now()
    (session,) = charge(start=now - timedelta(days=32), ad_hoc_email=ADDRESS)
    (receipt,) = issue_session_documents(session_ids=[session.pk])
    pdf.store_document_pdf(document_id=receipt.pk, reason="issued", rendered_by=None)
    resend(document=receipt)
    Customer.objects.filter(pk=session.customer_id).update(
        email_collected_at=now - timedelta(days=31)
    )
    assert all(rows_with_address().values())  # every copy existed

    assert erase_expired_ad_hoc_addresses(now=now) >= 4

    assert rows_with_address() == dict.fromkeys(TABLES, 0)
    receipt.refresh_from_db()
    assert (receipt.total_gross, receipt.display_number) != (None, "")
    for path in [
        f"/api/v1/customers/{session.customer_id}/",
        f"/api/v1/sessions/{session.pk}/",
        f"/api/v1/invoices/{receipt.pk}/",
        "/api/v1/invoices/",
    ]:
        answer = api.get(path)
        assert answer.status_code == 200, path
        assert ADDRESS not in answer.content.decode(), path
    for changelist in ["invoicing/document", "charging/chargingsession", "customers/customer"]:
        page = admin_client.get(f"/admin/{changelist}/", {"q": ADDRESS})
        assert page.status_code == 200
        assert ADDRESS not in page.content.decode().replace(f'value="{ADDRESS}"', "")
    assert ADDRESS not in pdf_text(pdf.render_pdf(receipt))


@pytest.mark.django_db
def test_a_receipt_younger_than_30_days_keeps_its_address(charge, invoicing_settings):
    invoicing_settings.issuing_schedule = InvoicingSettings.IssuingSchedule.PER_SESSION
    invoicing_settings.always_issue = True
    invoicing_settings.save()
    (session,) = charge(start=timezone.now() - timedelta(days=3), ad_hoc_email=ADDRESS)
    (receipt,) = issue_session_documents(session_ids=[session.pk])

    erase_expired_ad_hoc_addresses()

    receipt.refresh_from_db()
    assert receipt.recipient_email == ADDRESS


@pytest.mark.django_db
def test_a_receipt_over_the_simplified_limit_does_not_print_the_address(charge, invoicing_settings):
    invoicing_settings.issuing_schedule = InvoicingSettings.IssuingSchedule.PER_SESSION
    invoicing_settings.always_issue = True
    invoicing_settings.save()
    (session,) = charge(energy="1000.000", ad_hoc_email=ADDRESS)
    (receipt,) = issue_session_documents(session_ids=[session.pk])
    assert receipt.total_gross > 400  # a full receipt, with its recipient block

    text = pdf_text(pdf.render_pdf(receipt))

    assert receipt.display_number in text
    assert ADDRESS not in text
