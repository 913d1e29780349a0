"""The drivers' portal, page by page: what a signed-in driver sees and can do."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import date, timedelta
from decimal import Decimal
from html import unescape
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import translation
from django.utils.formats import date_format

from cpo_portal import i18n
from cpo_portal.kernel.periods import today_for
from customers.models import Customer, Plan, Subscription, SubscriptionPeriod
from customers.notifications.sending import send_due_messages
from invoicing.models import Document, DocumentFile, DocumentStatus, InvoicingSettings
from invoicing.output import pdf
from invoicing.subscriptions.lifecycle import subscribe
from tests.customers.conftest import PASSWORD, credit, issue, make_driver, make_overdue
from tests.factories import ChargingSessionFactory, CompanyCustomerFactory

pytestmark = pytest.mark.django_db
NBSP = "\u00a0"


def text(response) -> str:
    """The page's visible text, tags dropped and whitespace (no-break spaces too) collapsed."""
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", response.content.decode(), flags=re.S)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", body)).split())


def hide_energy(operator, label: str = "") -> None:
    InvoicingSettings.objects.filter(operator=operator).update(
        hide_energy=True, **({"services_label": label} if label else {})
    )


# --- signing in and out ----------------------------------------------------------------------


def test_a_driver_signs_in_by_email_whatever_its_case(client, driver):
    response = client.post(
        reverse("portal:sign-in"), {"email": "DANA@Example.ORG", "password": PASSWORD}
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("portal:landing")
    assert client.session["_auth_user_id"] == str(driver.user.pk)
    home = client.get(reverse("portal:landing"))
    assert "Welcome, Dana Driver" in text(home)


def test_a_wrong_password_and_an_unknown_address_get_the_same_answer(client, driver):
    wrong = client.post(
        reverse("portal:sign-in"), {"email": "dana@example.org", "password": "nope"}
    )
    unknown = client.post(
        reverse("portal:sign-in"), {"email": "nobody@example.org", "password": PASSWORD}
    )

    message = "The e-mail address or the password is not correct."
    assert wrong.status_code == unknown.status_code == 200
    assert message in text(wrong) and message in text(unknown)
    assert "_auth_user_id" not in client.session


def test_a_staff_account_cannot_sign_in_to_the_portal(client, operator):
    get_user_model().objects.create_user(
        "clerk", email="clerk@voltway.example", password=PASSWORD, is_staff=True
    )

    response = client.post(
        reverse("portal:sign-in"), {"email": "clerk@voltway.example", "password": PASSWORD}
    )

    assert response.status_code == 200
    # The wrong-password answer: the portal does not confirm a staff password to a guesser.
    assert "The e-mail address or the password is not correct." in text(response)
    assert "back-office" not in text(response).lower()
    assert "_auth_user_id" not in client.session


def test_an_account_without_a_customer_cannot_sign_in(client, operator):
    get_user_model().objects.create_user("loose", email="loose@example.org", password=PASSWORD)

    response = client.post(
        reverse("portal:sign-in"), {"email": "loose@example.org", "password": PASSWORD}
    )

    assert "This account is not linked to a customer yet." in text(response)
    assert "_auth_user_id" not in client.session


def test_an_inactive_driver_cannot_sign_in(client, driver):
    get_user_model().objects.filter(pk=driver.user_id).update(is_active=False)

    response = client.post(
        reverse("portal:sign-in"), {"email": "dana@example.org", "password": PASSWORD}
    )

    assert "The e-mail address or the password is not correct." in text(response)


def test_signing_in_follows_next_and_speaks_the_drivers_language(client, operator):
    customer = make_driver(operator, email="greta@example.org", language="de")
    target = reverse("portal:invoices")

    response = client.post(
        f"{reverse('portal:sign-in')}?next={target}",
        {"email": "greta@example.org", "password": PASSWORD, "next": target},
    )

    assert response["Location"] == target
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == customer.language


def test_the_sign_in_page_sends_a_signed_in_driver_to_the_overview(driver_client):
    response = driver_client.get(reverse("portal:sign-in"))

    assert response.status_code == 302
    assert response["Location"] == reverse("portal:landing")


def test_signing_out_is_a_post_that_ends_the_session(driver_client):
    assert driver_client.get(reverse("portal:sign-out")).status_code == 405

    response = driver_client.post(reverse("portal:sign-out"), follow=True)

    assert response.redirect_chain[-1][0] == reverse("portal:sign-in")
    assert "You are signed out." in text(response)
    assert driver_client.get(reverse("portal:sessions")).status_code == 302


def test_portal_pages_are_never_cached(driver_client):
    response = driver_client.get(reverse("portal:invoices"))

    assert "no-store" in response["Cache-Control"] and "private" in response["Cache-Control"]


# --- password reset --------------------------------------------------------------------------


def reset_link(message) -> str:
    (link,) = re.findall(r"https?://[^/\s]+(/password-reset/[^\s]+/)", message.body)
    return link


def test_a_driver_resets_the_password_from_an_emailed_link(client, driver):
    response = client.post(reverse("portal:password-reset"), {"email": "Dana@example.org"})

    assert response["Location"] == reverse("portal:password-reset-sent")
    assert send_due_messages() == 1  # the outbox worker
    (message,) = mail.outbox
    assert message.to == ["dana@example.org"]
    assert "VoltWay" in message.subject
    form_page = client.get(reset_link(message), follow=True)
    assert "Choose a new password" in text(form_page)
    done = client.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": "A-brand-new-secret-7", "new_password2": "A-brand-new-secret-7"},
        follow=True,
    )
    assert "Your new password is set." in text(done)
    assert Client().login(email="dana@example.org", password="A-brand-new-secret-7")


def test_a_reset_link_works_once(client, driver):
    client.post(reverse("portal:password-reset"), {"email": "dana@example.org"})
    send_due_messages()
    link = reset_link(mail.outbox[0])
    set_page = client.get(link, follow=True).redirect_chain[-1][0]
    new = {"new_password1": "A-brand-new-secret-7", "new_password2": "A-brand-new-secret-7"}
    client.post(set_page, new)

    again = client.get(link, follow=True)

    assert "This link does not work any more" in text(again)


def test_no_reset_mail_goes_to_staff_or_unknown_addresses_and_the_page_says_the_same(
    client, operator
):
    get_user_model().objects.create_user(
        "clerk", email="clerk@voltway.example", password=PASSWORD, is_staff=True
    )

    for email in ("clerk@voltway.example", "nobody@example.org"):
        response = client.post(reverse("portal:password-reset"), {"email": email}, follow=True)
        assert "If a driver account uses this address" in text(response)
    assert send_due_messages() == 0
    assert mail.outbox == []


def test_a_reset_link_never_changes_a_back_office_password(client, operator):
    from django.contrib.auth.tokens import default_token_generator
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    clerk = get_user_model().objects.create_user(
        "clerk", email="clerk@voltway.example", password=PASSWORD, is_staff=True
    )
    uid = urlsafe_base64_encode(force_bytes(clerk.pk))
    token = default_token_generator.make_token(clerk)

    response = client.get(reverse("portal:password-reset-confirm", args=[uid, token]), follow=True)

    assert "This link does not work any more" in text(response)


def test_an_invited_driver_without_a_password_can_set_one_by_reset(client, operator):
    from customers.services import create_portal_account

    customer = CompanyCustomerFactory(operator=operator, email="fleet@example.org")
    user = create_portal_account(customer=customer)
    assert not user.has_usable_password()

    client.post(reverse("portal:password-reset"), {"email": "fleet@example.org"})

    assert send_due_messages() == 1
    assert len(mail.outbox) == 1


# --- overview ----------------------------------------------------------------------------------


def test_the_front_page_invites_visitors_to_sign_in(client, operator):
    response = client.get(reverse("portal:landing"))

    assert reverse("portal:sign-in") in response.content.decode()
    assert operator.legal_name in text(response)


def test_the_overview_sums_what_is_open_and_flags_overdue_invoices(driver_client, driver, media):
    make_overdue(driver)
    issue(driver)

    page = text(driver_client.get(reverse("portal:landing")))

    assert "2 open invoices" in page
    assert "1 invoice is overdue." in page
    assert "14.52 EUR" in page  # 9.52 (20 kWh) + 5.00 (10.5 kWh) gross


# --- sessions ------------------------------------------------------------------------------------


def test_the_sessions_list_shows_date_location_energy_duration_and_cost(driver_client, driver):
    session = issue(driver).billed_sessions.get().session

    response = driver_client.get(reverse("portal:sessions"))

    page = text(response)
    assert response.status_code == 200
    assert session.evse.location.name in page
    assert "10.500 kWh" in page
    assert "1 h 00 min" in page
    assert "5.00 EUR" in page
    assert reverse("portal:session", args=[session.pk]) in response.content.decode()


def test_the_sessions_list_shows_local_time_at_the_charger(driver_client, driver):
    # 10:00 UTC on 2 March is 11:00 in Berlin, where the helper's location is.
    issue(driver)

    page = text(driver_client.get(reverse("portal:sessions")))

    assert "March 2, 2026, 11 a.m." in page


def test_the_sessions_list_is_paginated(driver_client, driver):
    ChargingSessionFactory.create_batch(27, operator=driver.operator, customer=driver)

    first = driver_client.get(reverse("portal:sessions"))
    second = driver_client.get(reverse("portal:sessions"), {"page": 2})
    nonsense = driver_client.get(reverse("portal:sessions"), {"page": "x"})

    assert first.content.decode().count("<tr>") - 1 == 25
    assert second.content.decode().count("<tr>") - 1 == 2
    assert "Page 2 of 2" in text(second)
    assert nonsense.status_code == 200
    assert "not priced yet" in text(first)


def test_a_session_page_shows_its_breakdown_and_the_invoice_billing_it(driver_client, driver):
    document = issue(driver)
    session = document.billed_sessions.get().session

    response = driver_client.get(reverse("portal:session", args=[session.pk]))

    page = text(response)
    assert "Energy" in page
    assert "10.500 kWh" in page
    assert "0.40 EUR" in page
    assert "4.20 EUR" in page and "19 %" in page and "5.00 EUR" in page
    assert document.display_number in page
    assert reverse("portal:invoice", args=[document.pk]) in response.content.decode()


def test_hide_energy_leaves_no_kwh_in_sessions_or_invoices(driver_client, driver, operator):
    hide_energy(operator, label="Ladeservice")
    document = issue(driver)  # issued hiding energy, as its PDF shows
    session = document.billed_sessions.get().session

    pages = {
        name: driver_client.get(url)
        for name, url in {
            "overview": reverse("portal:landing"),
            "sessions": reverse("portal:sessions"),
            "session": reverse("portal:session", args=[session.pk]),
            "invoice": reverse("portal:invoice", args=[document.pk]),
            "invoices": reverse("portal:invoices"),
        }.items()
    }

    for name, response in pages.items():
        assert response.status_code == 200, name
        assert "kWh" not in response.content.decode(), name
        assert "Energy" not in text(response), name
    session_page = text(pages["session"])
    assert "Ladeservice" in session_page and "5.00 EUR" in session_page
    assert "0.40" not in session_page
    assert "Ladeservice" in text(pages["invoice"])


# --- invoices ----------------------------------------------------------------------------------


def test_the_invoice_list_shows_status_due_date_amount_and_pdf(driver_client, driver):
    document = issue(driver)

    response = driver_client.get(reverse("portal:invoices"))

    page = text(response)
    assert document.display_number in page
    assert "Issued" in page
    assert date_format(document.due_date) in page
    assert "5.00 EUR" in page
    assert reverse("portal:invoice-pdf", args=[document.pk]) in response.content.decode()


def test_an_overdue_invoice_stands_out(driver_client, driver):
    overdue = make_overdue(driver)
    issue(driver)
    assert overdue.status == DocumentStatus.OVERDUE

    response = driver_client.get(reverse("portal:invoices"))
    html = response.content.decode()

    assert html.count('class="document-row is-overdue"') == 1
    row = re.search(r'<tr class="document-row is-overdue">(.*?)</tr>', html, re.S).group(1)
    assert overdue.display_number in row and "Overdue" in row
    assert "1 invoice is overdue" in text(response)
    detail = text(driver_client.get(reverse("portal:invoice", args=[overdue.pk])))
    assert "is overdue" in detail


def test_credit_notes_and_the_invoices_they_correct_link_each_other(driver_client, driver):
    document = issue(driver)
    credit_note = credit(document)

    listing = driver_client.get(reverse("portal:invoices")).content.decode()
    original = driver_client.get(reverse("portal:invoice", args=[document.pk]))
    note = driver_client.get(reverse("portal:invoice", args=[credit_note.pk]))

    assert "corrected by" in listing and "corrects" in listing
    assert reverse("portal:invoice", args=[credit_note.pk]) in original.content.decode()
    assert "This document is cancelled by" in text(original)
    assert "Credited" in text(original)
    assert reverse("portal:invoice", args=[document.pk]) in note.content.decode()
    assert "This document cancels" in text(note) and "Wrong tariff" in text(note)
    assert "-5.00 EUR" in text(note)


def test_an_invoice_page_shows_lines_vat_and_what_is_still_to_pay(driver_client, driver):
    document = issue(driver)

    page = text(driver_client.get(reverse("portal:invoice", args=[document.pk])))

    assert "Energy" in page and "10.500 kWh" in page
    assert "VAT summary" in page and "0.80 EUR" in page
    assert "Still to pay 5.00 EUR" in page
    assert "Download the PDF" in page


def test_the_pdf_is_served_from_storage_as_a_download(driver_client, driver, media):
    document = issue(driver)
    stored = pdf.latest_file(document)

    response = driver_client.get(reverse("portal:invoice-pdf", args=[document.pk]))

    body = b"".join(response.streaming_content)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("attachment;")
    assert f"{document.display_number}.pdf" in response["Content-Disposition"]
    assert body.startswith(b"%PDF")
    assert body == (media / stored.file.name).read_bytes()


def test_a_pdf_not_rendered_yet_is_announced_not_rendered_in_the_request(
    driver_client, driver, monkeypatch
):
    monkeypatch.setattr(pdf, "store_document_pdf", lambda **kwargs: (None, False))
    document = issue(driver)
    rendered = []
    monkeypatch.setattr(pdf, "render_pdf", lambda *args: rendered.append(args))

    response = driver_client.get(reverse("portal:invoice-pdf", args=[document.pk]), follow=True)

    assert response.redirect_chain == [(reverse("portal:invoice", args=[document.pk]), 302)]
    assert "The PDF is still being prepared." in text(response)
    assert rendered == []


def test_a_stored_pdf_missing_from_storage_answers_404(driver_client, driver, media):
    document = issue(driver)
    (media / pdf.latest_file(document).file.name).unlink()

    response = driver_client.get(reverse("portal:invoice-pdf", args=[document.pk]))

    assert response.status_code == 404


# --- invoice details ---------------------------------------------------------------------------

COMPANY = {
    "kind": "company",
    "name": "Dana Driver",
    "company_name": "Dana Logistics GmbH",
    "company_registration_id": "HRB 4711",
    "vat_id": "de 136 695 976",
    "email": "accounts@dana.example",
    "street": "Hafenstraße 1",
    "postal_code": "20457",
    "city": "Hamburg",
    "country": "de",
    "language": "de",
    "requires_invoice": "on",
}


def test_the_details_page_shows_the_current_details_and_what_is_required(driver_client, driver):
    response = driver_client.get(reverse("portal:details"))

    html = response.content.decode()
    assert f'value="{driver.email}"' in html
    assert "Required for individuals: Full name, E-mail for invoices." in text(response)
    assert "Required for companies:" in text(response)
    assert html.count("(required)") == 2  # name and e-mail of an individual
    assert 'name="csrfmiddlewaretoken"' in html


def test_details_with_errors_are_refused_with_the_error_next_to_each_field(driver_client, driver):
    before = Customer.objects.get(pk=driver.pk)
    data = {**COMPANY, "vat_id": "DE123", "city": ""}

    response = driver_client.post(reverse("portal:details"), data)

    html = response.content.decode()
    assert response.status_code == 200
    vat_error = re.search(r'<p class="error" id="id_vat_id_error">(.*?)</p>', html).group(1)
    assert "is not a valid EU VAT ID" in unescape(vat_error)
    city_error = re.search(r'<p class="error" id="id_city_error">(.*?)</p>', html).group(1)
    assert city_error == "The city is required for company customers."
    assert re.search(r'<input[^>]*aria-invalid="true"[^>]*id="id_vat_id"', html)
    assert 'aria-describedby="id_vat_id_helptext id_vat_id_error"' in html
    assert 'value="Dana Logistics GmbH"' in html  # what was typed stays in the form
    after = Customer.objects.get(pk=driver.pk)
    assert (after.kind, after.vat_id, after.city) == (before.kind, before.vat_id, before.city)


def test_valid_details_are_saved_normalised(driver_client, driver):
    response = driver_client.post(reverse("portal:details"), COMPANY, follow=True)

    assert response.redirect_chain == [(reverse("portal:details"), 302)]
    assert "Your invoice details are saved." in text(response)
    driver.refresh_from_db()
    assert driver.kind == Customer.Kind.COMPANY
    assert driver.company_name == "Dana Logistics GmbH"
    assert driver.vat_id == "DE136695976"
    assert driver.country == "DE"
    assert driver.language == "de"
    assert driver.requires_invoice is True


def test_requires_invoice_can_be_switched_off(driver_client, driver):
    data = {"kind": "individual", "name": "Dana Driver", "email": "dana@example.org"}

    driver_client.post(reverse("portal:details"), data)

    driver.refresh_from_db()
    assert driver.requires_invoice is False


def test_the_mandatory_fields_are_the_operators(driver_client, driver, operator):
    InvoicingSettings.objects.filter(operator=operator).update(
        mandatory_fields_individual=["name", "street", "city"]
    )
    data = {"kind": "individual", "name": "Dana Driver", "street": "", "city": "Berlin"}

    response = driver_client.post(reverse("portal:details"), data)

    html = response.content.decode()
    assert 'id="id_street_error"' in html and 'id="id_city_error"' not in html
    assert "Required for individuals: Full name, Street and number, City." in text(response)


def test_a_driver_cannot_change_what_the_back_office_decides(driver_client, driver, operator):
    other_operator = type(operator).objects.create(
        name="Other", legal_name="Other", street="x", postal_code="1", city="x", country="DE",
        email="o@example.org",
    )  # fmt: skip
    data = {
        "kind": "anonymous",
        "name": "Dana Driver",
        "email": "dana@example.org",
        "operator": other_operator.pk,
        "billing_mode": "monthly",
        "user": "",
    }

    refused = driver_client.post(reverse("portal:details"), data)
    driver_client.post(reverse("portal:details"), {**data, "kind": "individual"})

    assert 'id="id_kind_error"' in refused.content.decode()
    driver.refresh_from_db()
    assert driver.operator_id == operator.pk
    assert driver.billing_mode == Customer.BillingMode.PER_SESSION
    assert driver.user_id is not None


def test_changing_details_never_alters_issued_documents_or_their_pdfs(driver_client, driver, media):
    document = issue(driver)
    frozen = Document.objects.values().get(pk=document.pk)
    stored = pdf.latest_file(document)
    stored_bytes = (media / stored.file.name).read_bytes()

    response = driver_client.post(reverse("portal:details"), COMPANY)

    assert response.status_code == 302
    assert Document.objects.values().get(pk=document.pk) == frozen
    assert DocumentFile.objects.filter(document=document).count() == 1
    assert (media / stored.file.name).read_bytes() == stored_bytes
    invoice_page = text(driver_client.get(reverse("portal:invoice", args=[document.pk])))
    assert "Bill to Dana Driver Hauptstraße 5 10115 Berlin" in invoice_page
    # ...while the next document is issued with the new details.
    assert issue(driver).recipient_name == "Dana Logistics GmbH"


# --- subscription ------------------------------------------------------------------------------


@pytest.fixture
def plan(operator):
    return Plan.objects.create(
        operator=operator,
        name="Flex",
        fee=Decimal("9.90"),
        energy_price=Decimal("0.30"),
        included_kwh=Decimal("5"),
        grace_days=10,
        reminder_days=3,
        suspend_after_days=7,
    )


def test_without_a_subscription_the_page_says_so(driver_client):
    page = text(driver_client.get(reverse("portal:subscription")))

    assert "You have no subscription." in page


def test_the_subscription_page_shows_plan_period_next_invoice_and_what_follows(
    driver_client, driver, plan
):
    subscribe(customer=driver, plan=plan, start_date=date(2026, 1, 31))
    Subscription.objects.filter(customer=driver).update(current_period_start=date(2026, 3, 31))

    page = text(driver_client.get(reverse("portal:subscription")))

    assert "Flex" in page and "Active" in page
    assert "9.90 EUR excl. VAT, monthly" in page
    assert "0.30 EUR / kWh" in page and "5.000 kWh" in page
    assert "March 31, 2026 \u2013 April 29, 2026" in page  # 31 Jan + 3 months = 30 April
    assert "Next invoice April 30, 2026" in page
    assert "You have 10 days to pay it" in page
    assert "3 days before the due date" in page
    assert "7 days after the due date, charging is suspended" in page


def test_a_past_due_subscription_says_when_charging_will_be_suspended(driver_client, driver, plan):
    overdue = make_overdue(driver)  # before subscribing: then sessions go on renewals
    subscription = subscribe(
        customer=driver, plan=plan, start_date=today_for(driver.operator) - timedelta(days=90)
    )
    SubscriptionPeriod.objects.create(
        subscription=subscription, start=date(2026, 1, 1), end=date(2026, 1, 31), document=overdue
    )
    Subscription.objects.filter(pk=subscription.pk).update(status=Subscription.Status.PAST_DUE)

    response = driver_client.get(reverse("portal:subscription"))

    suspension = overdue.due_date + timedelta(days=8)
    page = text(response)
    assert "An invoice of your subscription is overdue." in page
    assert f"charging will be suspended on {date_format(suspension)}" in page
    assert overdue.display_number in page


def test_the_subscription_page_hides_energy_where_the_operator_must(
    driver_client, driver, plan, operator
):
    subscribe(customer=driver, plan=plan, start_date=date(2026, 1, 1))
    hide_energy(operator)

    response = driver_client.get(reverse("portal:subscription"))

    assert "kWh" not in response.content.decode()


def test_the_subscription_page_says_the_last_invoice_when_cancelling(driver_client, driver, plan):
    subscription = subscribe(customer=driver, plan=plan, start_date=date(2026, 1, 1))
    Subscription.objects.filter(pk=subscription.pk).update(cancel_at_period_end=True)

    page = text(driver_client.get(reverse("portal:subscription")))

    assert "the last one: the subscription ends with this period" in page


# --- language ----------------------------------------------------------------------------------


@pytest.mark.usefixtures("_compiled_translations")
@pytest.mark.parametrize(
    ("language", "heading", "direction"),
    [
        ("de", "Meine Rechnungen", "ltr"),
        ("el", "τιμολόγιά μου", "ltr"),
        ("fr", "Mes factures", "ltr"),
        ("ar", "فواتيري", "rtl"),
    ],
)
def test_the_language_switch_translates_the_portal(driver_client, language, heading, direction):
    response = driver_client.post(
        reverse("set_language"),
        {"language": language, "next": reverse("portal:invoices")},
        follow=True,
    )

    html = response.content.decode()
    assert response.redirect_chain[-1][0] == reverse("portal:invoices")
    assert f'<html lang="{language}" dir="{direction}">' in html
    assert re.search(f"<h1>[^<]*{heading}</h1>", html)


@pytest.mark.usefixtures("_compiled_translations")
def test_amounts_stay_in_reading_order_in_arabic(driver_client, driver):
    issue(driver)
    driver_client.post(reverse("set_language"), {"language": "ar"})

    html = driver_client.get(reverse("portal:invoices")).content.decode()

    assert f"\u20665,00{NBSP}EUR\u2069" in html


def test_every_portal_string_is_translated_in_every_language():
    template_dir = Path(__file__).resolve().parents[3] / "templates"
    templates = [*template_dir.glob("portal/**/*.html"), *template_dir.glob("portal/**/*.txt")]
    templates.append(template_dir / "404.html")
    templates.append(template_dir / "locked_out.html")
    msgids = set()
    for template in templates:
        source = template.read_text()
        msgids |= set(re.findall(r'{% translate "([^"]+)" %}', source))
        msgids |= set(re.findall(r"{% translate '([^']+)' %}", source))
        for block in re.findall(
            r"{% blocktranslate[^%]*%}(.*?){% endblocktranslate %}", source, re.S
        ):
            singular = block.split("{% plural %}")[0]
            msgids.add(re.sub(r"{{ (\w+) }}", r"%(\1)s", singular))
    assert len(msgids) > 100
    for language in ("de", "el", "fr", "ar"):
        catalog = polib.pofile(str(i18n.LOCALE_DIR / language / "LC_MESSAGES" / "django.po"))
        translated = {entry.msgid for entry in catalog.translated_entries()}
        assert msgids <= translated, (language, sorted(msgids - translated))
        assert not catalog.fuzzy_entries()


# --- forms are protected -----------------------------------------------------------------------


def test_every_form_carries_a_csrf_token(driver_client, driver):
    document = issue(driver)
    pages = [
        driver_client.get(reverse(name, args=args))
        for name, args in [
            ("portal:landing", []),
            ("portal:sessions", []),
            ("portal:invoices", []),
            ("portal:invoice", [document.pk]),
            ("portal:details", []),
            ("portal:subscription", []),
        ]
    ]
    anonymous = Client()
    pages += [anonymous.get(reverse(name)) for name in ("portal:sign-in", "portal:password-reset")]

    for response in pages:
        html = response.content.decode()
        forms = re.findall(r'<form[^>]*method="post"[^>]*>(.*?)</form>', html, re.S)
        assert forms, response.request["PATH_INFO"]
        for form in forms:
            assert 'name="csrfmiddlewaretoken"' in form, response.request["PATH_INFO"]


def test_posts_without_a_csrf_token_are_refused(driver):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(driver.user)

    for name in ("portal:details", "portal:sign-out", "set_language"):
        assert strict.post(reverse(name), {"language": "de"}).status_code == 403, name
    anonymous = Client(enforce_csrf_checks=True)
    for name in ("portal:sign-in", "portal:password-reset"):
        assert anonymous.post(reverse(name), {"email": "dana@example.org"}).status_code == 403


def test_a_driver_gives_a_mobile_number_for_text_messages(driver_client, driver):
    refused = driver_client.post(reverse("portal:details"), {**COMPANY, "mobile_phone": "12"})
    saved = driver_client.post(
        reverse("portal:details"), {**COMPANY, "mobile_phone": "+49 151 23456789"}
    )

    html = refused.content.decode()
    error = re.search(r'<p class="error" id="id_mobile_phone_error">(.*?)</p>', html).group(1)
    assert "is not a phone number" in unescape(error) or "is not a valid phone number" in unescape(
        error
    )
    assert saved.status_code == 302
    driver.refresh_from_db()
    assert driver.mobile_phone == "+4915123456789"


def pdf_text(document: Document) -> str:
    """The stored PDF's text as pdftotext (poppler) reads it, whitespace collapsed."""
    path = Path(settings.MEDIA_ROOT) / "check.pdf"
    path.write_bytes(pdf.render_pdf(document))
    tool = shutil.which("pdftotext")
    out = subprocess.run([tool, "-layout", str(path), "-"], capture_output=True, check=True)
    return " ".join(out.stdout.decode().replace(NBSP, " ").split())


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs poppler-utils")
def test_the_invoice_page_lists_the_lines_its_pdf_prints_even_after_energy_is_hidden(
    driver_client, driver, operator
):
    document = issue(driver)  # issued with kWh on it
    hide_energy(operator)  # the operator hides energy afterwards: the issued PDF keeps its kWh

    html = driver_client.get(reverse("portal:invoice", args=[document.pk])).content.decode()
    rows = re.findall(
        r'<th scope="row" data-label="Description">(.*?)</th>\s*'
        r'<td class="end num" data-label="Quantity"><bdi>(.*?)</bdi></td>',
        html,
    )
    printed = pdf_text(document)

    assert [d for d, _q in rows] == [line.description for line in document.lines.all()]
    assert any("kWh" in quantity for _d, quantity in rows)
    assert "EV Charging Services" not in html
    for description, quantity in rows:
        number, unit = unescape(quantity).replace(NBSP, " ").rsplit(" ", 1)
        assert description in printed and number in printed and unit in printed


@pytest.mark.usefixtures("_compiled_translations")
def test_units_agree_with_their_quantity_in_every_language():
    def shown(language, quantities):
        with translation.override(language):
            return [f"{q} {pdf.unit_label(unit, Decimal(value))}" for q, unit, value in quantities]

    quantities = [
        ("1", "minute", "1"),
        ("1,498", "minute", "1.498"),
        ("25", "minute", "25"),
        ("6", "package", "6"),
        ("1", "month", "1"),
    ]
    assert shown("en", quantities) == [
        "1 minute",
        "1,498 minutes",
        "25 minutes",
        "6 packages",
        "1 month",
    ]
    assert shown("de", quantities) == [
        "1 Minute",
        "1,498 Minuten",
        "25 Minuten",
        "6 Pauschalen",
        "1 Monat",
    ]
    for language in ("fr", "el", "ar"):
        one, some = shown(language, [("1", "minute", "1"), ("5", "minute", "5")])
        assert one.split(" ", 1)[1] != some.split(" ", 1)[1], language


@pytest.mark.usefixtures("_compiled_translations")
def test_quantities_and_unit_prices_keep_their_direction_in_arabic(driver_client, driver):
    document = issue(driver)
    driver_client.post(reverse("set_language"), {"language": "ar"})

    html = driver_client.get(reverse("portal:invoice", args=[document.pk])).content.decode()

    # Each number and its unit is one isolated run: drawn "10,500 kWh", never "kWh 10,500".
    assert "<bdi>10,500 kWh</bdi>" in html
    assert "<bdi>0,40 EUR</bdi>" in html
