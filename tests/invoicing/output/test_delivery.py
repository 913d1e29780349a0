"""Document e-mails through the outbox: the PDF attached, in the customer's language, sent once
the PDF is stored; deliveries queued before the outbox still go out, failures recorded.

Django's locmem backend (set by pytest-django) collects the messages in `mail.outbox`.
"""

from __future__ import annotations

import hashlib
import smtplib
import time
from email import message_from_bytes
from pathlib import Path

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.mail import EmailMultiAlternatives
from django.urls import include, path
from django.utils import timezone
from PIL import Image

from customers.models import Customer, OutboundMessage
from customers.notifications.sending import send_message
from invoicing.admin.documents import OUTPUT_INLINES, DocumentOutputsAdminMixin
from invoicing.models import Document, DocumentFile, EmailDelivery
from invoicing.output import document_messages, pdf
from invoicing.output import emails as delivery
from invoicing.output import pipeline as outputs
from invoicing.signals import pdf_render_requested
from invoicing.tasks import send_document_email
from tests.invoicing.output.test_pdf import _compiled_translations, issue_document, set_options
from tests.invoicing.output.test_pdf import setup as setup

__all__ = ["_compiled_translations"]


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


def rendered(document: Document) -> DocumentFile:
    """The PDF stored as the workers store it, which releases the e-mail waiting for it."""
    return outputs.render_document(document_id=document.pk, reason="issued")


def queued(document_file: DocumentFile) -> OutboundMessage | None:
    """The document's e-mail, written in the issuing transaction (the test sends it)."""
    return OutboundMessage.objects.filter(
        regarding=f"document:{document_file.document_id}", event="document_issued", channel="email"
    ).first()


def legacy(document_file: DocumentFile) -> EmailDelivery:
    """A delivery queued before the outbox took document e-mails over."""
    document = document_file.document
    return EmailDelivery.objects.create(
        document=document,
        document_file=document_file,
        recipient=document.recipient_email,
        language=document.language,
    )


def pdf_attachment(message) -> tuple[str, bytes, str]:
    (attachment,) = message.attachments
    return attachment.filename, attachment.content, attachment.mimetype


@pytest.mark.django_db
def test_the_email_carries_the_stored_pdf_in_the_customers_language(
    setup, django_capture_on_commit_callbacks
):
    document = issue_document(setup, language="fr", email="luc@example.org")
    document_file = rendered(document)
    row = queued(document_file)

    status = send_message(row.pk)

    assert status == "sent"
    (message,) = mail.outbox
    assert message.to == ["luc@example.org"]
    assert message.subject == f"Facture {document.display_number} de VoltWay"
    assert "Bonjour Anna Schmidt," in message.body
    assert "Total TTC" in message.body
    assert message.reply_to == ["billing@voltway.example"]
    assert message.extra_headers["Content-Language"] == "fr"
    (html, mimetype) = message.alternatives[0]
    assert mimetype == "text/html" and 'lang="fr"' in html and "Bonjour" in html
    name, content, content_type = pdf_attachment(message)
    assert name == f"{document.display_number}.pdf"
    assert content_type == "application/pdf"
    assert hashlib.sha256(content).hexdigest() == document_file.sha256
    row.refresh_from_db()
    assert row.attempt_count == 1 and row.sent_at is not None and row.language == "fr"


@pytest.mark.parametrize(
    ("language", "subject_start", "greeting"),
    [("de", "Rechnung", "Guten Tag"), ("el", "Τιμολόγιο", "Αγαπητέ/ή"), ("ar", "فاتورة", "عزيزنا")],
)
@pytest.mark.django_db
def test_every_language_gets_its_own_email(
    setup, django_capture_on_commit_callbacks, language, subject_start, greeting
):
    document = issue_document(setup, language=language)
    row = queued(rendered(document))

    send_message(row.pk)

    (message,) = mail.outbox
    assert message.subject.startswith(subject_start)
    assert greeting in message.body
    html, _mimetype = message.alternatives[0]
    assert ('dir="rtl"' in html) == (language == "ar")
    # The whole message survives serialisation, attachment included.
    parsed = message_from_bytes(message.message().as_bytes())
    assert [part.get_content_type() for part in parsed.walk()][-1] == "application/pdf"


@pytest.mark.django_db
def test_nothing_is_queued_when_auto_email_is_off_or_there_is_no_address(
    setup, django_capture_on_commit_callbacks
):
    operator, _evse = setup
    set_options(operator, mandatory_fields_individual=["name"])
    without_address = rendered(issue_document(setup, email=""))
    set_options(operator, auto_email=False)
    switched_off = rendered(issue_document(setup))

    assert queued(without_address) is None
    assert queued(switched_off) is None
    assert not OutboundMessage.objects.filter(event="document_issued").exists()


@pytest.mark.django_db
def test_the_email_waits_for_its_pdf_and_is_queued_once_and_sent_once(setup):
    document = issue_document(setup)
    first = queued_message = OutboundMessage.objects.get(event="document_issued")

    assert send_message(first.pk) == "queued"  # no PDF yet: waits, no attempt counted
    first.refresh_from_db()
    assert first.attempt_count == 0 and not mail.outbox
    assert document_messages.queue_issued([document.pk]) == 0  # the issue hook ran twice
    outputs.render_document(document_id=document.pk, reason="issued")  # releases it

    assert send_message(queued_message.pk) == "sent"
    assert send_message(queued_message.pk) == "sent"
    assert len(mail.outbox) == 1
    first.refresh_from_db()
    assert first.attempt_count == 1


@pytest.mark.django_db
def test_a_failed_attempt_is_recorded_and_the_next_one_sends(
    setup, django_capture_on_commit_callbacks, monkeypatch
):
    row = legacy(rendered(issue_document(setup)))
    real_send = EmailMultiAlternatives.send

    def refuse(self, fail_silently=False):
        raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")

    monkeypatch.setattr(EmailMultiAlternatives, "send", refuse)
    with pytest.raises(delivery.TransientDeliveryError):
        delivery.send_email(delivery_id=row.pk)
    row.refresh_from_db()
    assert row.status == EmailDelivery.Status.FAILED
    assert "Connection unexpectedly closed" in row.last_error
    assert row.attempts == 1 and not mail.outbox

    monkeypatch.setattr(EmailMultiAlternatives, "send", real_send)
    assert delivery.send_email(delivery_id=row.pk) == EmailDelivery.Status.SENT
    row.refresh_from_db()
    assert row.attempts == 2 and row.last_error == "" and len(mail.outbox) == 1
    with row.document_file.file.open("rb") as stored:
        assert hashlib.sha256(stored.read()).hexdigest() == row.document_file.sha256  # nothing lost


@pytest.mark.django_db
def test_the_send_task_retries_with_backoff_until_it_gives_up(
    setup, django_capture_on_commit_callbacks, monkeypatch
):
    row = legacy(rendered(issue_document(setup)))

    def refuse(self, fail_silently=False):
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(EmailMultiAlternatives, "send", refuse)
    result = send_document_email.apply(args=[row.pk])

    assert result.failed()
    row.refresh_from_db()
    assert row.status == EmailDelivery.Status.FAILED
    assert row.attempts == 1 + len(delivery.RETRY_DELAYS)
    assert "Connection refused" in row.last_error
    assert [delivery.retry_delay(n) for n in range(3)] == [60, 300, 900]


@pytest.mark.django_db
def test_an_altered_stored_pdf_is_never_sent(setup, django_capture_on_commit_callbacks):
    document_file = rendered(issue_document(setup))
    row = queued(document_file)
    with document_file.file.open("wb") as handle:
        handle.write(b"%PDF-1.4 tampered")

    assert send_message(row.pk) == "failed"

    row.refresh_from_db()
    assert "SHA-256" in row.last_error and not mail.outbox


@pytest.mark.django_db
def test_staff_can_resend_the_newest_pdf(setup, django_capture_on_commit_callbacks):
    document = issue_document(setup)
    row = queued(rendered(document))
    send_message(row.pk)

    with django_capture_on_commit_callbacks(execute=False):
        again = document_messages.resend(document=document, recipient="accounts@example.org")
    send_message(again.pk)

    assert again.is_resend and again.channel == "email"
    assert [m.to for m in mail.outbox] == [[document.recipient_email], ["accounts@example.org"]]
    assert all(m.attachments for m in mail.outbox)
    assert document_messages.messages_of(document.pk).filter(status="sent").count() == 2


@pytest.mark.django_db
def test_resending_a_document_without_pdf_says_why(setup):
    document = issue_document(setup)

    with pytest.raises(delivery.DeliveryError, match="no PDF yet"):
        document_messages.resend(document=document)


@pytest.mark.django_db
def test_an_ad_hoc_driver_gets_the_receipt_at_the_address_they_left(
    setup, django_capture_on_commit_callbacks
):
    operator, _evse = setup
    set_options(operator, always_issue=True)
    document = issue_document(
        setup,
        kind=Customer.Kind.AD_HOC,
        name="",
        email="walkin@example.org",
        language="",
        requires_invoice=False,
    )
    assert document.kind == "sales_receipt" and document.language == "en"
    row = queued(rendered(document))

    send_message(row.pk)

    (message,) = mail.outbox
    assert message.to == ["walkin@example.org"]
    assert message.subject.startswith("Sales receipt")
    assert "Hello," in message.body


# --- with real workers ---------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_issuing_a_document_renders_and_emails_it_through_the_workers(setup, celery_worker_thread):
    document = issue_document(setup, language="de")  # queues the render task on commit

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if OutboundMessage.objects.filter(event="document_issued", status="sent").exists():
            break
        time.sleep(0.1)

    document_file = DocumentFile.objects.get(document=document)
    sent = OutboundMessage.objects.get(event="document_issued", channel="email")
    assert sent.status == "sent", sent.last_error
    assert sent.regarding == f"document:{document.pk}" and not sent.is_resend
    (message,) = [m for m in mail.outbox if m.to == [document.recipient_email]]
    assert message.subject.startswith(f"Rechnung {document.display_number}")
    _name, content, _type = pdf_attachment(message)
    assert hashlib.sha256(content).hexdigest() == document_file.sha256


@pytest.mark.django_db(transaction=True)
def test_a_recipient_correction_renders_a_new_revision_through_the_workers(
    setup, celery_worker_thread
):
    from invoicing.documents.issuing import correct_recipient_details

    document = issue_document(setup)
    deadline = time.monotonic() + 60
    while not DocumentFile.objects.filter(document=document).exists():
        assert time.monotonic() < deadline, "the PDF was not rendered"
        time.sleep(0.1)

    correct_recipient_details(
        document=document, changes={"recipient_city": "Potsdam"}, reason="Moved"
    )
    while DocumentFile.objects.filter(document=document).count() < 2:
        assert time.monotonic() < deadline, "the corrected PDF was not rendered"
        time.sleep(0.1)

    revisions = list(DocumentFile.objects.filter(document=document).order_by("revision"))
    assert [r.reason for r in revisions] == ["issued", "recipient_corrected"]
    assert revisions[0].file.storage.exists(revisions[0].file.name)


# --- admin --------------------------------------------------------------------------------------

site = admin.AdminSite(name="admin")


class DocumentAdmin(DocumentOutputsAdminMixin, admin.ModelAdmin):
    inlines = OUTPUT_INLINES
    actions = ["resend_email", "rerender_pdf"]
    list_display = ["display_number", "pdf_link"]


site.register(Document, DocumentAdmin)
# The portal's pages too: e-mails and texts link to them.
urlpatterns = [path("admin/", site.urls), path("", include("customers.urls"))]


@pytest.fixture
def staff(client):
    user = get_user_model().objects.create_superuser("boss", "boss@example.org", "pw")
    client.force_login(user)
    return user


@pytest.mark.urls(__name__)
@pytest.mark.django_db
def test_the_admin_serves_the_stored_pdf_and_never_renders(setup, client, staff, monkeypatch):
    document = issue_document(setup)
    missing = client.get(f"/admin/invoicing/document/{document.pk}/pdf/")
    assert missing.status_code == 302  # no PDF yet: back to the document, with a message

    document_file = rendered(document)
    monkeypatch.setattr(pdf, "render_pdf", lambda document: pytest.fail("rendered in a request"))
    response = client.get(f"/admin/invoicing/document/{document.pk}/pdf/")
    old = client.get(f"/admin/invoicing/document/{document.pk}/pdf/1/")

    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    body = b"".join(response.streaming_content)
    assert hashlib.sha256(body).hexdigest() == document_file.sha256
    assert old.status_code == 200
    # Read to the end: the test client closes the file then (closing it directly would also
    # close the test's database connection through request_finished).
    assert b"".join(old.streaming_content).startswith(b"%PDF")
    page = client.get(f"/admin/invoicing/document/{document.pk}/change/")
    assert page.status_code == 200 and b"PDF revisions" in page.content


@pytest.mark.urls(__name__)
@pytest.mark.django_db
def test_the_admin_actions_queue_a_rerender_and_a_resend(
    setup, client, staff, monkeypatch, django_capture_on_commit_callbacks
):
    document = issue_document(setup)
    rendered(document)
    queued_renders = []

    def render_requested(sender, *, document_id, reason, rendered_by_id=None, **kwargs):
        queued_renders.append((document_id, reason, rendered_by_id))

    pdf_render_requested.connect(render_requested)
    url = "/admin/invoicing/document/"
    try:
        client.post(url, {"action": "rerender_pdf", "_selected_action": [document.pk]})
    finally:
        pdf_render_requested.disconnect(render_requested)
    with django_capture_on_commit_callbacks(execute=False):
        client.post(url, {"action": "resend_email", "_selected_action": [document.pk]})

    assert queued_renders == [(document.pk, "rerendered", staff.pk)]
    resent = document_messages.messages_of(document.pk).get(is_resend=True)
    assert resent.recipient == document.recipient_email and resent.channel == "email"


@pytest.mark.django_db
def test_a_rerender_after_a_failed_first_render_is_the_issued_pdf_and_is_emailed(
    setup, settings, django_capture_on_commit_callbacks
):
    operator, _evse = setup
    logos = Path(settings.MEDIA_ROOT) / "logos"
    logos.mkdir(parents=True)
    (logos / "logo.png").write_bytes(b"not an image")
    set_options(operator, logo="logos/logo.png")
    pdf.load_logo.cache_clear()
    document = issue_document(setup)
    with pytest.raises(pdf.RenderError):
        outputs.render_document(document_id=document.pk, reason="issued")

    Image.new("RGB", (60, 20), "green").save(logos / "logo.png")  # staff fixed the file
    pdf.load_logo.cache_clear()
    with django_capture_on_commit_callbacks(execute=False):
        document_file = outputs.render_document(document_id=document.pk, reason="rerendered")

    assert document_file.reason == DocumentFile.Reason.ISSUED and document_file.revision == 1
    message = OutboundMessage.objects.get(event="document_issued", channel="email")
    assert message.status == "queued" and message.not_before <= timezone.now()  # released
