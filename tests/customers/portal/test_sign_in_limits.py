"""Guessing passwords does not scale: lockouts on both sign-ins, capped reset e-mails."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from customers.notifications.sending import send_due_messages
from tests.customers.conftest import PASSWORD

pytestmark = pytest.mark.django_db

SIGN_IN = "/sign-in/"
ADMIN_SIGN_IN = "/admin/login/"


def portal_sign_in(client, email, password):
    return client.post(SIGN_IN, {"email": email, "password": password})


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


@pytest.mark.brute_force
def test_the_eleventh_portal_sign_in_is_refused_even_with_the_right_password(client, driver):
    for _ in range(10):
        wrong = portal_sign_in(client, "dana@example.org", "not-the-password")
    refused = portal_sign_in(client, "Dana@Example.org", PASSWORD)

    assert wrong.status_code in (200, 429)
    assert refused.status_code == 429
    assert "Too many failed sign-ins" in refused.content.decode()
    assert not signed_in(client)
    # Another client address is not locked out by this one's guesses.
    elsewhere = Client(REMOTE_ADDR="192.0.2.7")
    assert portal_sign_in(elsewhere, "dana@example.org", PASSWORD).status_code == 302
    assert signed_in(elsewhere)


def test_the_lockout_ends_after_the_cool_off(client, driver, settings):
    for _ in range(10):
        portal_sign_in(client, "dana@example.org", "not-the-password")
    assert portal_sign_in(client, "dana@example.org", PASSWORD).status_code == 429

    minutes = settings.AXES_COOLOFF_TIME.total_seconds() / 60
    with time_machine.travel(timezone.now() + timedelta(minutes=minutes + 1)):
        assert portal_sign_in(client, "dana@example.org", PASSWORD).status_code == 302
    assert signed_in(client)


@pytest.mark.brute_force
def test_the_eleventh_admin_sign_in_is_refused_even_with_the_right_password(client, db):
    get_user_model().objects.create_superuser("boss", "boss@voltway.example", PASSWORD)

    for _ in range(10):
        client.post(ADMIN_SIGN_IN, {"username": "boss", "password": "guess"})
    refused = client.post(ADMIN_SIGN_IN, {"username": "boss", "password": PASSWORD})

    assert refused.status_code == 429
    assert not signed_in(client)
    assert client.get("/admin/").status_code == 302  # still sent to the sign-in page


@pytest.mark.brute_force
def test_a_minute_of_guessing_gets_no_password_accepted_after_the_limit(client, driver):
    """The published figure: a client that guesses 300 times in a minute gets fewer than 10
    guesses answered; after them even the right password, tried among the guesses, is refused."""
    get_user_model().objects.create_superuser("boss", "boss@voltway.example", PASSWORD)
    attempts = 300
    judged = {"portal": 0, "admin": 0}
    accepted = {"portal": 0, "admin": 0}
    for number in range(attempts):
        password = PASSWORD if number >= 10 and number % 29 == 0 else f"guess-{number}"
        portal = portal_sign_in(client, "dana@example.org", password)
        admin = client.post(ADMIN_SIGN_IN, {"username": "boss", "password": password})
        for door, answer in (("portal", portal), ("admin", admin)):
            judged[door] += answer.status_code != 429
            accepted[door] += answer.status_code == 302
        client.logout()

    print(
        f"brute force: {attempts} guesses per account in a minute, the right one among them: "
        f"answered portal {judged['portal']}, admin {judged['admin']}; accepted after the limit "
        f"portal {accepted['portal']}, admin {accepted['admin']}"
    )
    # The tenth failure already answers with the lockout page.
    assert max(judged.values()) < 10
    assert accepted == {"portal": 0, "admin": 0}


def test_a_right_password_resets_the_count(client, driver):
    for _ in range(9):
        portal_sign_in(client, "dana@example.org", "not-the-password")
    assert portal_sign_in(client, "dana@example.org", PASSWORD).status_code == 302
    client.post(reverse("portal:sign-out"))
    for _ in range(9):
        portal_sign_in(client, "dana@example.org", "not-the-password")
    assert portal_sign_in(client, "dana@example.org", PASSWORD).status_code == 302


def page_without_tokens(response) -> str:
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", response.content.decode())


def test_a_staff_account_with_its_right_password_gets_the_wrong_password_answer(operator):
    get_user_model().objects.create_user(
        "clerk", email="clerk@voltway.example", password=PASSWORD, is_staff=True
    )

    right = portal_sign_in(Client(), "clerk@voltway.example", PASSWORD)
    wrong = portal_sign_in(Client(), "clerk@voltway.example", "not-the-password")

    assert right.status_code == wrong.status_code == 200
    assert page_without_tokens(right) == page_without_tokens(wrong)


def ask_reset(client, email):
    """Ask for a reset link; the outbox worker sends what the request queued."""
    response = client.post(reverse("portal:password-reset"), {"email": email})
    send_due_messages()
    return response


def test_reset_emails_for_one_address_are_capped_and_the_page_does_not_tell(client, driver):
    answers = [ask_reset(client, "dana@example.org") for _ in range(10)]

    assert len(mail.outbox) == 3
    assert {a.status_code for a in answers} == {302}
    assert {a.url for a in answers} == {reverse("portal:password-reset-sent")}
    # From another client the address is still capped: the limit is the address's.
    ask_reset(Client(REMOTE_ADDR="192.0.2.7"), "dana@example.org")
    assert len(mail.outbox) == 3


def test_reset_requests_from_one_client_are_capped(client, operator, settings):
    from tests.customers.conftest import make_driver

    settings.PASSWORD_RESET_PER_CLIENT = 5
    for n in range(8):
        make_driver(operator, name=f"Driver {n}", email=f"driver{n}@example.org")
        assert ask_reset(client, f"driver{n}@example.org").status_code == 302

    assert len(mail.outbox) == 5
