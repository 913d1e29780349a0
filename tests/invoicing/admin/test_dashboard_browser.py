"""The admin in a real browser at 1366 and 1440 px: the dashboard draws its charts, the
document and session lists do not scroll sideways, and the export buttons leave the list title
readable."""

from __future__ import annotations

import os
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone

from invoicing.documents.issuing import issue_session_documents
from tests.conftest import CHROMIUM
from tests.factories import CustomerFactory
from tests.invoicing.helpers import make_priced_session

# Without /usr/bin/chromium or playwright it skips with the reason (fails in CI): conftest.py.
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LISTS = {
    "admin-invoices": "/admin/invoicing/document/",
    "admin-sessions": "/admin/charging/chargingsession/",
    "admin-customers": "/admin/customers/customer/",
    "admin-payments": "/admin/invoicing/paymenttransaction/",
}
WIDE_LISTS = ("admin-invoices", "admin-sessions")


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_superuser("boss", "boss@example.org", "s3cret-pw")


@pytest.fixture
def sessions_and_invoices(operator):
    customer = CustomerFactory(operator=operator, requires_invoice=True, billing_mode="per_session")
    now = timezone.now().replace(microsecond=0)
    sessions = [
        make_priced_session(operator, customer, start=now - timedelta(days=days, hours=2))
        for days in (1, 20, 40, 70)
    ]
    issue_session_documents(session_ids=[session.pk for session in sessions])
    call_command("rebuild_dashboard", since=f"{now - timedelta(days=100):%Y-%m}", stdout=StringIO())


def overlaps(first, second) -> bool:
    return not (
        first["x"] + first["width"] <= second["x"]
        or second["x"] + second["width"] <= first["x"]
        or first["y"] + first["height"] <= second["y"]
        or second["y"] + second["height"] <= first["y"]
    )


@pytest.mark.parametrize("width", [1366, 1440])
def test_dashboard_and_lists_fit_a_laptop_screen(
    live_server, staff, sessions_and_invoices, tmp_path, width
):
    from playwright.sync_api import sync_playwright

    # ADMIN_SCREENSHOTS=docs/images refreshes the pictures in docs/operations.md.
    shots = Path(os.environ.get("ADMIN_SCREENSHOTS") or tmp_path)
    if width != 1366:
        shots = tmp_path  # the pictures in docs/ are taken at 1366 px
    layout = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.set_default_timeout(15_000)
            page.goto(f"{live_server.url}/admin/login/?next=/admin/")
            page.fill("#id_username", "boss")
            page.fill("#id_password", "s3cret-pw")
            page.click("input[type=submit]")
            page.wait_for_url("**/admin/")
            charts = page.locator(".dashboard svg[role=img]")
            layout["charts"] = charts.count()
            layout["bars"] = page.locator(".dashboard svg rect").count()
            page.screenshot(path=shots / "admin-dashboard.png", full_page=True)
            for name, url in LISTS.items():
                page.goto(f"{live_server.url}{url}")
                layout[name] = page.evaluate(
                    "() => [document.scrollingElement.scrollWidth,"
                    " document.scrollingElement.clientWidth]"
                )
                if name in WIDE_LISTS:
                    layout[f"{name} title"] = page.locator("#content h1").bounding_box()
                    layout[f"{name} buttons"] = [
                        page.locator(".object-tools li").nth(index).bounding_box()
                        for index in range(page.locator(".object-tools li").count())
                    ]
                page.screenshot(path=shots / f"{name}.png")
        finally:
            browser.close()

    assert layout["charts"] == 3
    assert layout["bars"] == 3 * 12
    for name in WIDE_LISTS:
        scroll_width, client_width = layout[name]
        assert scroll_width <= client_width, f"{name} scrolls sideways"
        assert layout[f"{name} buttons"], f"{name} shows no export buttons"
        for button in layout[f"{name} buttons"]:
            assert not overlaps(button, layout[f"{name} title"]), (
                f"{name}: a button hides the title"
            )
    assert (shots / "admin-dashboard.png").stat().st_size > 0
