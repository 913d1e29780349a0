"""A walk-in driver scans the QR code: the public receipt page says "being prepared", turns
into the receipt by itself once it is issued, and downloads the PDF; then finds it again by the
four details.

With RECEIPT_SCREENSHOTS=1 the pages are saved to docs/images/receipt-*.png (docs/receipts.md).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from django.db import connection

from invoicing.output import pipeline
from invoicing.output.receipt_links import receipt_path
from invoicing.payments.card_receipts import settle_card_payment
from tests.conftest import CHROMIUM
from tests.invoicing.receipts.conftest import capture_for, card_payment_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(__file__).resolve().parents[3] / "docs" / "images"
PHONE = {"width": 390, "height": 844}


def shoot(page, name: str) -> None:
    if os.environ.get("RECEIPT_SCREENSHOTS"):
        page.screenshot(path=str(SCREENSHOTS / f"receipt-{name}.png"), full_page=True)


def test_the_page_turns_into_the_receipt_and_its_pdf_downloads(live_server, paid_session):
    from playwright.sync_api import expect, sync_playwright

    entry = capture_for(paid_session)
    card = card_payment_for(paid_session, entry)
    url = f"{live_server.url}{receipt_path(paid_session.pk)}"
    evse_id = paid_session.evse.evse_id
    issued = {}

    def issue() -> None:
        # The worker's part, from another thread while the page waits.
        try:
            receipt = settle_card_payment(
                session_id=paid_session.pk, transaction_id=entry.pk, card_payment=card
            )
            pipeline.render_document(document_id=receipt.pk, reason="issue")
            issued["number"] = receipt.display_number
            issued["ended"] = receipt.card_payment["ended"][:10]
        finally:
            connection.close()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            context = browser.new_context(accept_downloads=True, viewport=PHONE)
            page = context.new_page()
            page.set_default_timeout(20_000)
            page.goto(url)
            expect(page.locator("#receipt-status")).to_have_attribute("data-state", "preparing")
            expect(page.locator("#receipt-status")).to_contain_text("being prepared")
            shoot(page, "preparing")

            worker = threading.Thread(target=issue)
            worker.start()
            worker.join()

            # No click: the page refreshes by itself until the receipt is there.
            expect(page.locator("#receipt-status")).to_have_attribute("data-state", "issued")
            expect(page.locator("#receipt-pdf")).to_be_visible()
            expect(page.locator("h2").first).to_contain_text(issued["number"])
            expect(page.get_by_text("VISA •••• 4242")).to_be_visible()
            shoot(page, "page")
            with page.expect_download() as download:
                page.locator("#receipt-pdf").click()
            assert download.value.suggested_filename.endswith(".pdf")
            with open(download.value.path(), "rb") as stored:
                assert stored.read(4) == b"%PDF"

            page.goto(f"{live_server.url}/receipts/find/")
            page.get_by_label("Date").fill(issued["ended"])
            page.get_by_label("Charge point (EVSE ID)").fill(evse_id)
            page.get_by_label("Last 4 card digits").fill("4242")
            page.get_by_label("Amount paid").fill(card["amount"])
            shoot(page, "find")
            page.get_by_role("button", name="Find my receipt").click()
            page.wait_for_url(url)
            expect(page.locator("#receipt-status")).to_have_attribute("data-state", "issued")
        finally:
            browser.close()
