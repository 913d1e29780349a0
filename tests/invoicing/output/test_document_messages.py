"""The document events through the outbox, per language and channel: the issued document with
its PDF, the reminder before the due date (once), and the card receipt's link."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.core import mail

from cpo_portal.kernel import sms
from customers.models import OutboundMessage
from customers.notifications.sending import send_due_messages
from invoicing.documents.models import Document
from invoicing.output import pipeline
from invoicing.output.document_messages import queue_issued
from invoicing.output.reminders import remind_due_invoices
from invoicing.subscriptions.lifecycle import check_subscription_payments
from tests.invoicing.output.test_pdf import _compiled_translations, issue_document
from tests.invoicing.output.test_pdf import setup as setup

__all__ = ["_compiled_translations"]

MOBILE = "+4915123456789"


@pytest.fixture(autouse=True)
def _files(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.SMS_BACKEND = "cpo_portal.kernel.sms.backends.FileBackend"
    settings.SMS_FILE_PATH = str(tmp_path / "sms")
    settings.SMS_QUIET_HOURS = (0, 0)
    settings.PUBLIC_BASE_URL = "https://cpo.example"
    sms._backend.cache_clear()
    yield
    sms._backend.cache_clear()


def texts(tmp_path) -> list[str]:
    folder = tmp_path / "sms"
    return [p.read_text() for p in sorted(folder.iterdir())] if folder.exists() else []


@pytest.mark.parametrize(
    ("language", "subject", "sms_text"),
    [
        ("en", "Invoice", "is ready: https://cpo.example/s/"),
        ("de", "Rechnung", "ist da: https://cpo.example/s/"),
        ("fr", "Facture", "est disponible : https://cpo.example/s/"),
        ("el", "Τιμολόγιο", "είναι διαθέσιμο: https://cpo.example/s/"),
        ("ar", "فاتورة", "جاهز: https://cpo.example/s/"),
    ],
)
@pytest.mark.django_db
def test_the_issued_document_goes_out_by_e_mail_with_its_pdf_and_by_text_with_a_link(
    setup, tmp_path, language, subject, sms_text
):
    document = issue_document(setup, language=language, mobile_phone=MOBILE)
    assert send_due_messages() == 1  # the text; the e-mail waits for its PDF
    assert mail.outbox == []

    document_file = pipeline.render_document(document_id=document.pk, reason="issued")
    assert send_due_messages() == 1  # released by the stored PDF

    (email,) = mail.outbox
    assert email.subject.startswith(subject) and document.display_number in email.subject
    assert ('dir="rtl"' in email.alternatives[0][0]) == (language == "ar")
    ((name, content, mimetype),) = email.attachments
    assert (name, mimetype) == (f"{document.display_number}.pdf", "application/pdf")
    assert hashlib.sha256(content).hexdigest() == document_file.sha256
    (text,) = texts(tmp_path)
    assert sms_text in text and document.display_number in text


@pytest.mark.django_db
def test_the_document_e_mail_cannot_be_switched_off_but_the_text_can(setup):
    document = issue_document(setup, mobile_phone=MOBILE)
    document.customer.notification_preferences.create(event="document_issued", channels="none")
    OutboundMessage.objects.all().delete()

    assert queue_issued([document.pk]) == 1

    assert list(OutboundMessage.objects.values_list("event", "channel")) == [
        ("document_issued", "email")
    ]


@pytest.mark.parametrize(
    ("language", "subject", "body"),
    [
        ("en", "Reminder: invoice", "are still open"),
        ("de", "Erinnerung: Rechnung", "sind noch offen"),
        ("fr", "Rappel : la facture", "restent dus"),
        ("el", "Υπενθύμιση: το τιμολόγιο", "εκκρεμούν ακόμη"),
        ("ar", "تذكير: الفاتورة", "مستحقًا"),
    ],
)
@pytest.mark.django_db
def test_an_open_invoice_is_reminded_once_before_its_due_date(
    setup, tmp_path, settings, language, subject, body
):
    settings.PAYMENT_REMINDER_DAYS = 3
    document = issue_document(setup, language=language, mobile_phone=MOBILE)
    OutboundMessage.objects.all().delete()  # the issued document's own messages
    due = document.due_date
    assert due is not None

    assert remind_due_invoices(today=due - timedelta(days=4)) == 0  # too early
    assert remind_due_invoices(today=due - timedelta(days=3)) == 1
    assert remind_due_invoices(today=due - timedelta(days=3)) == 0  # the job ran twice
    check_subscription_payments(today=due - timedelta(days=2))  # the daily job, next day
    send_due_messages()

    (email,) = mail.outbox
    assert email.subject.startswith(subject) and document.display_number in email.subject
    assert body in email.body and ('dir="rtl"' in email.alternatives[0][0]) == (language == "ar")
    (text,) = texts(tmp_path)
    assert body in text and "https://cpo.example/s/" in text


@pytest.mark.django_db
def test_a_paid_invoice_gets_no_reminder(setup, settings):
    document = issue_document(setup)
    Document.objects.filter(pk=document.pk).update(status="paid")

    assert remind_due_invoices(today=document.due_date - timedelta(days=1)) == 0


@pytest.mark.django_db
def test_staff_see_the_documents_messages_and_their_state_in_the_admin(setup, admin_client):
    document = issue_document(setup)
    send_due_messages()  # no PDF yet: the e-mail waits
    (message,) = OutboundMessage.objects.filter(regarding=f"document:{document.pk}")

    page = admin_client.get(f"/admin/invoicing/document/{document.pk}/change/")

    assert page.status_code == 200
    assert f"#{message.pk}</a> Document issued · E-mail · {document.recipient_email} · Queued" in (
        page.text
    )
    assert "the PDF is not rendered yet" in page.text
