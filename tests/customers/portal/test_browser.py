"""A driver's main paths in a real browser: sign in, open an invoice, download its PDF, fix
invoice details after a validation error, switch to Arabic, sign out.

With PORTAL_SCREENSHOTS=1 the pages are saved to docs/images/portal-*.png (docs/portal.md).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from cpo_portal.kernel.periods import add_months, today_for
from customers.models import Customer, Plan
from invoicing.documents.issuing import (
    issue_credit_note,
    issue_session_documents,
    mark_overdue_documents,
)
from invoicing.management.commands.seed_demo import TARIFFS
from invoicing.models import Document, DocumentStatus
from invoicing.output import pdf
from invoicing.subscriptions.lifecycle import renew_subscriptions, subscribe
from sessions.services import import_tariff
from tests.conftest import CHROMIUM
from tests.customers.conftest import PASSWORD, make_driver
from tests.factories import EVSEFactory, LocationFactory
from tests.invoicing.helpers import make_priced_session

# Without /usr/bin/chromium or playwright it skips with the reason (fails in CI): conftest.py.
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(__file__).resolve().parents[3] / "docs" / "images"
DESKTOP = {"width": 1200, "height": 820}
PHONE = {"width": 390, "height": 844}


def shoot(page, name: str) -> None:
    """Keep a picture of the page for docs/portal.md when asked to (PORTAL_SCREENSHOTS=1)."""
    if os.environ.get("PORTAL_SCREENSHOTS"):
        page.screenshot(path=str(SCREENSHOTS / f"portal-{name}.png"), full_page=True)


@pytest.fixture
def anna(operator, media, _compiled_translations):
    """A driver with sessions at two locations, invoices (one overdue, one credited and
    replaced), all PDFs stored, and a subscription with its first renewal invoice."""
    anna = make_driver(
        operator,
        name="Anna Schmidt",
        email="anna@example.org",
        street="Musterstraße 1",
        postal_code="10117",
        city="Berlin",
    )
    tariff = import_tariff(operator=operator, data=TARIFFS[1])  # flat fee + day/night energy
    berlin = EVSEFactory(
        evse_id="DE*VWY*E01003",
        location=LocationFactory(operator=operator, name="Berlin Hauptbahnhof", city="Berlin"),
    )
    munich = EVSEFactory(
        evse_id="DE*VWY*E02001",
        location=LocationFactory(operator=operator, name="München Ost", city="München"),
    )
    today = today_for(operator)
    documents = []
    for days_ago, evse, kwh, minutes in [
        (70, berlin, "32.418", 48),
        (33, munich, "18.250", 95),
        (12, berlin, "41.075", 36),
        (4, munich, "9.800", 140),
    ]:
        start = datetime.combine(today - timedelta(days=days_ago), time(8, 15), tzinfo=UTC)
        session = make_priced_session(
            operator, anna, start=start, minutes=minutes, energy_kwh=kwh, evse=evse, tariff=tariff
        )
        (document,) = issue_session_documents(
            session_ids=[session.pk], issue_date=start.date() + timedelta(days=1)
        )
        documents.append(document)
    mark_overdue_documents(today=today)
    issue_credit_note(
        document=documents[1], reason="Charged twice for the connection fee", reissue=True
    )
    plan = Plan.objects.create(
        operator=operator,
        name="VoltWay Flex",
        fee=Decimal("9.90"),
        energy_price=Decimal("0.39"),
        included_kwh=Decimal("10"),
    )
    subscribe(customer=anna, plan=plan, start_date=add_months(today.replace(day=1), -1))
    renew_subscriptions(today=today)
    for document in Document.objects.filter(customer=anna):
        pdf.store_document_pdf(document_id=document.pk)
    return Customer.objects.get(pk=anna.pk)


def test_a_driver_signs_in_downloads_a_pdf_fixes_details_and_reads_arabic(
    live_server, anna, tmp_path
):
    from playwright.sync_api import expect, sync_playwright

    overdue = Document.objects.get(customer=anna, status=DocumentStatus.OVERDUE)
    recipient_before = Document.objects.values_list("recipient_name", flat=True).get(pk=overdue.pk)

    # The database is only used outside the browser block: Playwright's sync API runs an
    # event loop in this thread, and Django refuses ORM calls from inside one.
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            context = browser.new_context(accept_downloads=True, viewport=DESKTOP)
            page = context.new_page()
            page.set_default_timeout(15_000)

            # Sign in; the first Tab reaches the skip link (keyboard users start there).
            page.goto(f"{live_server.url}/sign-in/")
            page.keyboard.press("Tab")
            expect(page.locator(".skip-link")).to_be_focused()
            shoot(page, "sign-in")
            page.get_by_label("E-mail address").fill("Anna@Example.org")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"{live_server.url}/")
            expect(page.get_by_role("heading", level=1)).to_have_text("Welcome, Anna Schmidt")
            shoot(page, "overview")

            # My invoices: the overdue one stands out; open it and download its PDF.
            page.get_by_role("link", name="My invoices", exact=True).click()
            expect(page.locator("tr.is-overdue")).to_have_count(1)
            expect(page.locator("tr.is-overdue")).to_contain_text(overdue.display_number)
            shoot(page, "invoices")
            page.get_by_role("link", name=overdue.display_number, exact=True).first.click()
            page.wait_for_url(f"**/invoices/{overdue.pk}/")
            expect(page.get_by_text("is overdue", exact=False).first).to_be_visible()
            shoot(page, "invoice")
            with page.expect_download() as download_info:
                page.get_by_role("link", name="Download the PDF").click()
            download = download_info.value
            saved = tmp_path / download.suggested_filename
            download.save_as(saved)

            # My sessions and one session's breakdown.
            page.get_by_role("link", name="My sessions", exact=True).click()
            expect(page.locator("table.data tbody tr")).to_have_count(4)
            shoot(page, "sessions")
            page.locator("table.data tbody tr").first.get_by_role("link").click()
            expect(page.get_by_role("heading", name="Price breakdown")).to_be_visible()
            shoot(page, "session")

            # Invoice details: a company without a valid VAT ID is refused next to the
            # field, then saved once it is right.
            page.get_by_role("link", name="Invoice details", exact=True).click()
            page.get_by_label("a company").check()
            page.get_by_label("Company name").fill("Schmidt Logistik GmbH")
            page.get_by_label("VAT ID").fill("DE123")
            page.get_by_role("button", name="Save my invoice details").click()
            vat_error = page.locator("#id_vat_id_error")
            expect(vat_error).to_contain_text("is not a valid EU VAT ID")
            expect(page.get_by_label("VAT ID")).to_have_attribute("aria-invalid", "true")
            expect(page.locator("#error-summary")).to_be_visible()
            shoot(page, "details-error")
            page.get_by_label("VAT ID").fill("DE 136 695 976")
            page.get_by_label("Country").fill("de")
            page.get_by_role("button", name="Save my invoice details").click()
            expect(page.locator(".message-success")).to_contain_text(
                "Your invoice details are saved."
            )
            expect(page.get_by_label("VAT ID")).to_have_value("DE136695976")

            # My subscription.
            page.get_by_role("link", name="My subscription", exact=True).click()
            expect(page.get_by_text("VoltWay Flex")).to_be_visible()
            shoot(page, "subscription")

            # A phone: the tables become cards.
            page.set_viewport_size(PHONE)
            page.goto(f"{live_server.url}/invoices/")
            shoot(page, "invoices-phone")
            page.set_viewport_size(DESKTOP)

            # Arabic: right to left, translated.
            page.get_by_label("Language").select_option("ar")
            page.get_by_role("button", name="Change").click()
            page.wait_for_url(f"{live_server.url}/invoices/")
            expect(page.locator("html")).to_have_attribute("dir", "rtl")
            expect(page.locator("html")).to_have_attribute("lang", "ar")
            expect(page.get_by_role("heading", level=1)).to_have_text("فواتيري")
            nav = page.locator(".site-nav").bounding_box()
            first_link = page.locator(".site-nav a").first.bounding_box()
            # Mirrored: the first menu entry sits at the right-hand end of the menu.
            assert first_link["x"] + first_link["width"] > nav["x"] + nav["width"] / 2
            shoot(page, "invoices-ar")
            page.get_by_label("اللغة").select_option("en")
            page.get_by_role("button", name="تغيير").click()
            expect(page.locator("html")).to_have_attribute("dir", "ltr")

            # Sign out: the pages are gone.
            page.get_by_role("button", name="Sign out").click()
            page.wait_for_url("**/sign-in/")
            page.goto(f"{live_server.url}/invoices/")
            page.wait_for_url("**/sign-in/?next=/invoices/")
        finally:
            browser.close()

    assert saved.name == f"{overdue.display_number}.pdf"
    assert saved.read_bytes().startswith(b"%PDF")
    with pdf.latest_file(overdue).file.open("rb") as stored:
        assert saved.read_bytes() == stored.read()
    anna.refresh_from_db()
    assert anna.kind == Customer.Kind.COMPANY
    assert (anna.company_name, anna.vat_id, anna.country) == (
        "Schmidt Logistik GmbH",
        "DE136695976",
        "DE",
    )
    # Issued documents keep the details they were issued with.
    assert (
        Document.objects.values_list("recipient_name", flat=True).get(pk=overdue.pk)
        == recipient_before
        == "Anna Schmidt"
    )
