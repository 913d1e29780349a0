"""Drivers choose how they hear of each event (required ones stay on) and change password."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.db import transaction
from django.urls import reverse

from customers.notifications.models import NotificationPreference, OutboundMessage
from customers.notifications.outbox import notify
from customers.notifications.sending import send_due_messages
from tests.customers.conftest import PASSWORD, make_driver
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def test_a_driver_switches_off_payment_messages_and_none_are_queued(client, operator):
    driver = make_driver(operator, email="dana@example.org")
    client.force_login(driver.user)

    response = client.post(reverse("portal:notifications"), {"payment_succeeded": "none"})

    assert response.status_code == 302
    with transaction.atomic():
        notify(
            event="payment_succeeded",
            customer=driver,
            context={"amount": "1.00", "currency": "EUR"},
        )
    assert not OutboundMessage.objects.exists()
    html = client.get(reverse("portal:notifications")).content.decode()
    assert '<option value="none" selected>' in html


def test_a_required_message_cannot_be_switched_off_even_by_a_crafted_post(client, operator):
    driver = make_driver(operator, email="dana@example.org")
    client.force_login(driver.user)

    response = client.post(
        reverse("portal:notifications"), {"direct_debit_pre_notification": "none"}
    )

    assert response.status_code == 400
    assert "cannot be switched off" in response.content.decode()
    assert not NotificationPreference.objects.filter(customer=driver).exists()


def test_an_unknown_channel_is_refused_with_a_sentence(client, operator):
    driver = make_driver(operator, email="dana@example.org")
    client.force_login(driver.user)

    response = client.post(reverse("portal:notifications"), {"refund_made": "pigeon"})

    assert response.status_code == 400
    assert "Choose e-mail, SMS, both or not at all." in response.content.decode()


def test_a_driver_changes_their_password_and_signs_in_with_the_new_one(client, operator):
    driver = make_driver(operator, email="dana@example.org")
    client.force_login(driver.user)

    wrong = client.post(
        reverse("portal:password-change"),
        {
            "old_password": "not-it",
            "new_password1": "Fresh-Plug-2027",
            "new_password2": "Fresh-Plug-2027",
        },
    )
    assert wrong.status_code == 400
    response = client.post(
        reverse("portal:password-change"),
        {
            "old_password": PASSWORD,
            "new_password1": "Fresh-Plug-2027",
            "new_password2": "Fresh-Plug-2027",
        },
    )

    assert response.status_code == 302
    assert client.get(reverse("portal:invoices")).status_code == 200
    driver.user.refresh_from_db()
    assert driver.user.check_password("Fresh-Plug-2027")
    assert not driver.user.check_password(PASSWORD)


def test_the_reset_e_mail_is_in_the_drivers_language_not_the_pages(client, operator):
    driver = make_driver(operator, email="dana@example.org", language="de")

    client.post(
        reverse("portal:password-reset"), {"email": "dana@example.org"}, HTTP_ACCEPT_LANGUAGE="en"
    )

    message = OutboundMessage.objects.get(event="password_reset")
    assert (message.customer_id, message.language) == (driver.pk, "de")


def test_staff_invite_a_driver_who_sets_a_password_from_the_e_mail(admin_client, client, operator):
    driver = CustomerFactory(operator=operator, email="nina@example.org", language="fr")
    admin_client.post(
        reverse("admin:customers_customer_changelist"),
        {"action": "invite_to_portal", "_selected_action": [driver.pk]},
    )

    assert send_due_messages() == 1
    invitation = mail.outbox[0]
    # Welcomed in French, not told that someone asked to reset a password.
    assert "portail" in invitation.body and "réinitialiser" not in invitation.body
    assert invitation.subject.startswith("Votre compte")
    (link,) = re.findall(r"/password-reset/\S+/\S+/", invitation.body)
    form = client.get(link, follow=True)
    response = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": "Fresh-Plug-2027", "new_password2": "Fresh-Plug-2027"},
    )
    assert response.status_code == 302
    driver.refresh_from_db()
    assert driver.user.check_password("Fresh-Plug-2027")
    assert OutboundMessage.objects.get().language == "fr"
    assert OutboundMessage.objects.get().event == "portal_invitation"
