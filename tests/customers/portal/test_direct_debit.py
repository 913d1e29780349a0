"""Drivers give a SEPA direct-debit mandate in the portal, with the mandate text, and revoke it."""

from __future__ import annotations

import pytest
from django.urls import reverse

from invoicing.models import InvoicingSettings
from invoicing.payments.models import MandateSource, MandateStatus, SepaMandate
from tests.customers.conftest import make_driver

pytestmark = pytest.mark.django_db

CREDITOR_ID = "DE98ZZZ09999999999"
URL = "/direct-debit/"


@pytest.fixture
def collecting(operator):
    InvoicingSettings.objects.filter(operator=operator).update(sepa_creditor_identifier=CREDITOR_ID)
    return operator


def give(client, **overrides):
    data = {
        "account_holder": "Dana Driver",
        "iban": "DE89 3704 0044 0532 0130 00",
        "consent": "on",
    }
    return client.post(URL, {**data, **overrides})


def test_the_page_shows_the_mandate_text_with_the_creditor_and_its_identifier(client, collecting):
    driver = make_driver(collecting, email="dana@example.org")
    client.force_login(driver.user)

    html = client.get(URL).content.decode()

    assert reverse("portal:direct-debit") == URL
    assert CREDITOR_ID in html
    assert "you authorise (A) " + collecting.legal_name in html
    assert "within 8 weeks" in html


def test_a_driver_gives_a_mandate_and_sees_it_active(client, collecting):
    driver = make_driver(collecting, email="dana@example.org")
    client.force_login(driver.user)

    response = give(client)

    assert response.status_code == 302
    mandate = SepaMandate.objects.get(customer=driver)
    assert (mandate.iban, mandate.account_holder, mandate.status, mandate.source) == (
        "DE89370400440532013000",
        "Dana Driver",
        MandateStatus.ACTIVE,
        MandateSource.PORTAL,
    )
    html = client.get(URL).content.decode()
    assert mandate.reference in html
    assert "ending 3000" in html


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        ({"iban": "DE89 3704 0044 0532 0130 01"}, "iban", "IBAN"),
        ({"consent": ""}, "consent", "Tick the box"),
        ({"account_holder": ""}, "account_holder", "required"),
    ],
)
def test_a_wrong_iban_or_no_consent_gives_no_mandate_and_says_why(
    client, collecting, change, field, says
):
    driver = make_driver(collecting, email="dana@example.org")
    client.force_login(driver.user)

    response = give(client, **change)

    assert response.status_code == 400
    assert says in " ".join(response.context["form"].errors[field])
    assert not SepaMandate.objects.exists()


def test_a_revoked_mandate_is_kept_and_another_drivers_cannot_be_revoked(client, collecting):
    driver = make_driver(collecting, email="dana@example.org")
    other = make_driver(collecting, email="otto@example.org")
    client.force_login(other.user)
    give(client)
    theirs = SepaMandate.objects.get(customer=other)
    client.force_login(driver.user)
    give(client)
    mine = SepaMandate.objects.get(customer=driver)

    assert client.post(URL, {"revoke": theirs.pk}).status_code == 404
    assert client.post(URL, {"revoke": "not a number"}).status_code == 404
    assert client.post(URL, {"revoke": mine.pk}).status_code == 302

    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert (mine.status, theirs.status) == (MandateStatus.REVOKED, MandateStatus.ACTIVE)
    html = client.get(URL).content.decode()
    assert mine.reference in html and "Revoke</button>" not in html


def test_without_a_creditor_identifier_the_portal_offers_no_mandate(client, operator):
    driver = make_driver(operator, email="dana@example.org")
    client.force_login(driver.user)

    assert "does not collect by direct debit" in client.get(URL).content.decode()
    assert give(client).status_code == 404
    assert not SepaMandate.objects.exists()


def test_a_german_driver_reads_the_mandate_text_in_german(client, collecting, settings):
    driver = make_driver(collecting, email="greta@example.org", language="de")
    client.force_login(driver.user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "de"

    html = client.get(URL).content.decode()

    assert f"Ich ermächtige {collecting.legal_name}, Zahlungen von meinem Konto" in html
    assert "Mandat erteilen" in html
