"""The outbox: messages written with the change, sent once by the worker, every attempt kept."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from customers import tasks
from customers.models import MessageAttempt, OutboundMessage
from customers.notifications.erasure import erase_expired_messages
from customers.notifications.outbox import notify, resend
from customers.notifications.sending import send_due_messages
from invoicing.payments import ledger
from invoicing.payments.models import TransactionKind
from tests.customers.notifications import backends
from tests.factories import CustomerFactory


def sms_texts(tmp_path) -> list[str]:
    folder = tmp_path / "sms"
    return [path.read_text() for path in sorted(folder.iterdir())] if folder.exists() else []


def pay(operator, customer, *, kind=TransactionKind.BANK_TRANSFER, status="succeeded", ref="t-1"):
    return ledger.record_transaction(
        ledger.TransactionFacts(
            operator=operator,
            provider="bank",
            provider_reference=ref,
            kind=kind,
            status=status,
            amount=Decimal("24.50"),
            currency="EUR",
            customer=customer,
        )
    )


@pytest.mark.parametrize(
    ("language", "subject", "sms_text"),
    # Amounts are written as the language writes them (decimal comma on the continent).
    [
        ("en", "Payment received: 24.50 EUR", "we have received your payment"),
        ("de", "Zahlung erhalten: 24,50 EUR", "wir haben Ihre Zahlung"),
        ("fr", "Paiement reçu : 24,50 EUR", "nous avons bien reçu votre paiement"),
        ("el", "Η πληρωμή ελήφθη: 24,50 EUR", "λάβαμε την πληρωμή σας"),  # noqa: RUF001
        ("ar", "تم استلام الدفعة: 24,50 EUR", "لقد استلمنا دفعتك"),
    ],
)
def test_a_payment_is_confirmed_by_e_mail_and_sms_in_the_drivers_language(
    operator, tmp_path, language, subject, sms_text
):
    driver = CustomerFactory(operator=operator, language=language, mobile_phone="+4915123456789")

    pay(operator, driver)
    assert mail.outbox == []  # nothing leaves before the worker runs
    assert send_due_messages() == 2

    (email,) = mail.outbox
    assert email.to == [driver.email]
    assert email.subject == subject
    html = email.alternatives[0][0]
    assert ('dir="rtl"' in html) == (language == "ar")
    (text,) = sms_texts(tmp_path)
    assert sms_text in text
    assert "+4915123456789" in text


def test_a_failed_payment_and_a_refund_are_told_too(operator):
    driver = CustomerFactory(operator=operator, language="en")

    pay(operator, driver, status="failed", ref="t-2")
    pay(operator, driver, kind=TransactionKind.REFUND, ref="t-3")
    send_due_messages()

    assert sorted(m.subject for m in mail.outbox) == [
        "Payment failed: 24.50 EUR",
        "Refund: 24.50 EUR",
    ]


def test_a_failed_send_is_retried_after_backoff_and_every_attempt_is_recorded(operator, settings):
    settings.EMAIL_BACKEND = "tests.customers.notifications.backends.FlakyBackend"
    backends.FAILURES["left"] = 1
    driver = CustomerFactory(operator=operator)
    pay(operator, driver)
    message = OutboundMessage.objects.get()

    assert send_due_messages() == 0
    message.refresh_from_db()
    assert message.status == "queued"
    assert "Connection unexpectedly closed" in message.last_error
    assert message.not_before > timezone.now()  # waits for its backoff
    assert send_due_messages() == 0  # not due yet

    assert send_due_messages(now=timezone.now() + timedelta(minutes=2)) == 1
    message.refresh_from_db()
    assert message.status == "sent"
    assert message.provider_message_id == mail.outbox[0].extra_headers["Message-ID"]
    assert list(message.attempts.values_list("outcome", "provider_message_id")) == [
        ("failed", ""),
        ("sent", message.provider_message_id),
    ]


def test_a_sent_message_is_never_sent_again_when_its_task_runs_twice(operator):
    driver = CustomerFactory(operator=operator)
    pay(operator, driver)
    message = OutboundMessage.objects.get()

    assert tasks.send_outbound_message(message.pk) == "sent"
    assert tasks.send_outbound_message(message.pk) == "sent"

    assert len(mail.outbox) == 1
    assert MessageAttempt.objects.count() == 1


def test_a_status_reported_twice_queues_one_message(operator):
    driver = CustomerFactory(operator=operator)
    for _ in range(2):
        with transaction.atomic():
            notify(
                event="payment_succeeded",
                customer=driver,
                context={"amount": "1.00", "currency": "EUR"},
                dedupe_key="payment_succeeded:transaction:1",
            )

    assert OutboundMessage.objects.count() == 1


def test_a_message_is_not_written_when_the_change_is_rolled_back(operator):
    driver = CustomerFactory(operator=operator)

    with pytest.raises(RuntimeError), transaction.atomic():
        pay(operator, driver)
        raise RuntimeError("the ledger write failed")

    assert not OutboundMessage.objects.exists()


def test_staff_find_a_customers_messages_and_re_send_one(operator, admin_client):
    driver = CustomerFactory(operator=operator, name="Maria Papadopoulou")
    other = CustomerFactory(operator=operator, name="Jon Smith")
    pay(operator, driver)
    pay(operator, other, ref="t-9")
    send_due_messages()
    url = reverse("admin:customers_outboundmessage_changelist")

    page = admin_client.get(url, {"q": "Papadopoulou"}).content.decode()
    assert "Maria Papadopoulou" in page
    assert "Jon Smith" not in page

    original = OutboundMessage.objects.get(customer=driver)
    response = admin_client.post(
        url, {"action": "resend_messages", "_selected_action": [original.pk]}, follow=True
    )
    assert response.status_code == 200
    copy = OutboundMessage.objects.get(customer=driver, is_resend=True)
    send_due_messages()
    copy.refresh_from_db()
    assert copy.status == "sent"
    assert copy.subject == original.subject
    assert len(mail.outbox) == 3


def test_an_erased_message_cannot_be_re_sent(operator):
    from cpo_portal.kernel.errors import InvalidInput

    driver = CustomerFactory(operator=operator)
    pay(operator, driver)
    message = OutboundMessage.objects.get()
    message.erased_at = timezone.now()

    with pytest.raises(InvalidInput, match="erased"):
        resend(message=message)


def test_a_message_that_gives_up_tells_integrators_without_the_address(
    operator, integrator, settings
):
    from cpo_portal.kernel.integrations import webhooks
    from cpo_portal.kernel.integrations.models import WebhookEvent
    from invoicing.models import WebhookEndpoint

    WebhookEndpoint.objects.create(integrator=integrator, url="http://127.0.0.1:9/hooks")
    settings.EMAIL_BACKEND = "tests.customers.notifications.backends.FlakyBackend"
    backends.FAILURES["left"] = 99
    driver = CustomerFactory(operator=operator)
    pay(operator, driver)
    message = OutboundMessage.objects.get()

    later = timezone.now()
    for _ in range(6):
        later += timedelta(hours=7)
        send_due_messages(now=later)
    backends.FAILURES["left"] = 0

    message.refresh_from_db()
    assert (message.status, message.attempt_count, message.attempts.count()) == ("failed", 6, 6)
    assert send_due_messages(now=later + timedelta(days=1)) == 0  # given up: no seventh try
    (event,) = WebhookEvent.objects.filter(type="notification.failed")
    payload = webhooks._payloads("notification.failed", [event.object_id], operator.pk)
    data = payload[message.pk]
    assert (data["customer_id"], data["event"], data["attempts"]) == (
        driver.pk,
        "payment_succeeded",
        6,
    )
    assert driver.email not in str(data)


def test_texts_are_erased_when_their_time_is_up_and_ad_hoc_addresses_after_30_days(
    operator, settings
):
    settings.NOTIFICATION_BODY_DAYS = 60
    regular = CustomerFactory(operator=operator)
    ad_hoc = CustomerFactory(operator=operator, kind="ad_hoc")
    pay(operator, regular)
    pay(operator, ad_hoc, ref="t-5")
    send_due_messages()
    kept, gone = (
        OutboundMessage.objects.get(customer=regular),
        OutboundMessage.objects.get(customer=ad_hoc),
    )

    assert erase_expired_messages(now=timezone.now() + timedelta(days=29)) == 0
    assert erase_expired_messages(now=timezone.now() + timedelta(days=31)) == 1
    gone.refresh_from_db()
    assert (gone.recipient, gone.body_text, gone.status) == ("", "", "sent")
    kept.refresh_from_db()
    assert kept.recipient == regular.email and kept.body_text

    assert erase_expired_messages(now=timezone.now() + timedelta(days=61)) == 1
    kept.refresh_from_db()
    assert (kept.recipient, kept.body_text, kept.erased_at is not None) == (
        regular.email,
        "",
        True,
    )


def test_a_password_reset_link_is_logged_but_its_text_is_not_kept_once_sent(client, operator):
    from tests.customers.conftest import make_driver

    driver = make_driver(operator, name="Dana", email="dana@example.org")
    client.post(reverse("portal:password-reset"), {"email": "dana@example.org"})

    assert send_due_messages() == 1
    assert "/password-reset/" in mail.outbox[0].body
    message = OutboundMessage.objects.get(event="password_reset")
    assert (message.customer_id, message.status, message.body_text) == (
        driver.pk,
        "sent",
        "",
    )


def test_an_opt_out_is_honoured_but_a_mandatory_message_still_goes_out(operator, tmp_path):
    from customers.models import NotificationPreference

    driver = CustomerFactory(operator=operator, mobile_phone="+4915123456789")
    NotificationPreference.objects.create(
        customer=driver, event="payment_succeeded", channels="sms"
    )
    NotificationPreference.objects.create(
        customer=driver, event="direct_debit_pre_notification", channels="none"
    )

    pay(operator, driver)
    with transaction.atomic():
        notify(
            event="direct_debit_pre_notification",
            customer=driver,
            context={
                "amount": "24.50",
                "currency": "EUR",
                "collection_date": "2026-03-05",
                "mandate_reference": "M-1",
                "creditor_id": "DE98ZZZ09999999999",
            },
        )
    send_due_messages()

    assert [m.subject for m in mail.outbox] == [
        "Direct debit of 24.50 EUR on 2026-03-05"
    ]  # the payment notice by SMS only, as chosen
    assert len(sms_texts(tmp_path)) == 1


def test_an_sms_in_the_quiet_hours_waits_for_the_morning_and_the_e_mail_does_not(
    operator, tmp_path, settings
):
    import time_machine

    settings.SMS_QUIET_HOURS = (21, 8)
    operator.time_zone = "Europe/Berlin"
    operator.save()
    driver = CustomerFactory(operator=operator, mobile_phone="+4915123456789")

    with time_machine.travel("2026-03-04 22:30 +01:00", tick=False):
        pay(operator, driver)
        send_due_messages()
        assert len(mail.outbox) == 1
        assert sms_texts(tmp_path) == []
    sms_message = OutboundMessage.objects.get(channel="sms")
    assert sms_message.status == "queued"  # deferred, not dropped

    with time_machine.travel("2026-03-05 07:59 +01:00", tick=False):
        assert send_due_messages() == 0
    with time_machine.travel("2026-03-05 08:00 +01:00", tick=False):
        assert send_due_messages() == 1
    assert len(sms_texts(tmp_path)) == 1


def test_quiet_hours_follow_the_drivers_own_time_zone(operator, tmp_path, settings):
    import time_machine

    settings.SMS_QUIET_HOURS = (21, 8)
    operator.time_zone = "Europe/Berlin"
    operator.save()
    # In Lisbon it is an hour earlier than at the operator's in Berlin.
    driver = CustomerFactory(
        operator=operator, mobile_phone="+4915123456789", time_zone="Europe/Lisbon"
    )

    with time_machine.travel("2026-03-04 21:30 +01:00", tick=False):  # 20:30 in Lisbon
        pay(operator, driver)
        send_due_messages()
    assert len(sms_texts(tmp_path)) == 1

    with time_machine.travel("2026-03-05 08:30 +01:00", tick=False):  # 07:30 in Lisbon
        pay(operator, driver, ref="t-2")
        send_due_messages()
    assert len(sms_texts(tmp_path)) == 1  # the second waits for 08:00 in Lisbon
    with time_machine.travel("2026-03-05 09:00 +01:00", tick=False):
        assert send_due_messages() == 1
    assert len(sms_texts(tmp_path)) == 2


def test_the_admin_refuses_a_time_zone_that_does_not_exist(operator):
    from django.core.exceptions import ValidationError

    driver = CustomerFactory(operator=operator, time_zone="Europe/Atlantis")

    with pytest.raises(ValidationError) as refused:
        driver.full_clean()
    assert "Europe/Atlantis is not a time zone" in str(refused.value)
