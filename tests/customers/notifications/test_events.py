"""Every event's texts exist per language and channel, with the operator's default language for
a driver whose language the product does not speak."""

from __future__ import annotations

import pytest
from django.core import mail
from django.db import transaction

from customers.notifications.outbox import notify
from customers.notifications.sending import send_due_messages
from tests.factories import CustomerFactory

CONTEXT = {
    "customer_name": "Eva",
    "operator_name": "VoltWay",
    "number": "INV-7",
    "due_date": "1 March 2027",
    "amount": "24.50 EUR",
    "link": "https://cpo.example/s/abc/",
    "pay_link": "https://cpo.example/pay/x/",
}
# Subjects of the new lifecycle and receipt events, as the driver reads them.
SUBJECTS = {
    "receipt_ready": {
        "en": "Your receipt INV-7 is ready",
        "de": "Ihr Beleg INV-7 ist da",
        "fr": "Votre reçu INV-7 est disponible",
        "el": "Η απόδειξή σας INV-7 είναι διαθέσιμη",  # noqa: RUF001
        "ar": "إيصالك INV-7 جاهز",
    },
    "subscription_suspended": {
        "en": "Charging suspended: invoice INV-7 is overdue",
        "de": "Laden gesperrt: Rechnung INV-7 ist überfällig",
        "fr": "Recharge suspendue : la facture INV-7 est en retard",
        "el": "Η φόρτιση ανεστάλη: το τιμολόγιο INV-7 είναι ληξιπρόθεσμο",  # noqa: RUF001
        "ar": "تم إيقاف الشحن: الفاتورة INV-7 متأخرة السداد",
    },
    "subscription_reactivated": {
        "en": "Charging active again",
        "de": "Laden wieder möglich",
        "fr": "Recharge à nouveau possible",
        "el": "Η φόρτιση είναι ξανά ενεργή",  # noqa: RUF001
        "ar": "الشحن متاح مجددًا",
    },
}
ENGLISH_SMS = {
    "receipt_ready": "your receipt INV-7 is ready",
    "subscription_suspended": "charging with your cards is suspended",
    "subscription_reactivated": "charging with your cards works again",
}


@pytest.mark.parametrize("language", ["en", "de", "fr", "el", "ar"])
@pytest.mark.parametrize("event", sorted(SUBJECTS))
def test_each_new_event_speaks_the_drivers_language_by_e_mail_and_sms(
    operator, tmp_path, event, language
):
    driver = CustomerFactory(operator=operator, language=language, mobile_phone="+4915123456789")
    with transaction.atomic():
        notify(event=event, customer=driver, context=CONTEXT)

    assert send_due_messages() == 2
    (email,) = mail.outbox
    assert email.subject == SUBJECTS[event][language]
    assert email.extra_headers["Content-Language"] == language
    assert ('dir="rtl"' in email.alternatives[0][0]) == (language == "ar")
    (text,) = [path.read_text() for path in (tmp_path / "sms").iterdir()]
    assert "VoltWay: " in text
    assert (ENGLISH_SMS[event] in text) == (language == "en")  # translated, not English


def test_a_language_the_product_does_not_speak_falls_back_to_the_operators(operator, settings):
    settings.LANGUAGE_CODE = "de"
    driver = CustomerFactory(operator=operator, language="xx")
    with transaction.atomic():
        notify(event="subscription_reactivated", customer=driver, context=CONTEXT)

    send_due_messages()

    assert mail.outbox[0].subject == "Laden wieder möglich"
