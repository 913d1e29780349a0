"""The accountant's main path in a real browser: log in, filter invoices by month, export XLSX,
open the file; its totals are the database's."""

from __future__ import annotations

import importlib
from datetime import timedelta
from decimal import Decimal

import pytest
from django.apps import apps
from django.contrib.auth.models import Group
from django.db.models import Sum
from openpyxl import load_workbook

from cpo_portal.kernel.periods import today_for
from invoicing.documents.issuing import issue_credit_note, issue_session_documents
from invoicing.models import Document
from tests.conftest import CHROMIUM
from tests.factories import CustomerFactory
from tests.invoicing.helpers import make_priced_session

ROLES_MIGRATION = importlib.import_module("invoicing.migrations.0011_integrator_roles")

# Without /usr/bin/chromium or playwright it skips with the reason (fails in CI): conftest.py.
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def issue_on(customer, day, energy_kwh="10.5") -> Document:
    session = make_priced_session(customer.operator, customer, energy_kwh=energy_kwh)
    (document,) = issue_session_documents(session_ids=[session.pk], issue_date=day)
    return document


@pytest.fixture
def accountant(django_user_model):
    ROLES_MIGRATION.create_roles(apps, None)  # the database may have been flushed since migrate
    user = django_user_model.objects.create_user("accountant", password="s3cret-pw", is_staff=True)
    user.groups.add(Group.objects.get(name="Accountant"))
    return user


@pytest.fixture
def invoices(operator):
    """This month: two invoices and a credit note; last month: one invoice."""
    customer = CustomerFactory(
        operator=operator, requires_invoice=True, billing_mode="per_session", name="=cmd|calc"
    )
    today = today_for(operator)
    first = issue_on(customer, today)
    issue_on(customer, today, energy_kwh="20.25")
    issue_credit_note(document=first, reason="Wrong tariff", issue_date=today)
    earlier = issue_on(customer, today.replace(day=1) - timedelta(days=1))
    return {"month_start": today.replace(day=1), "earlier": earlier}


def test_accountant_filters_invoices_by_month_and_exports_xlsx(
    live_server, accountant, invoices, tmp_path
):
    from playwright.sync_api import sync_playwright

    # The database is only used outside the browser block: Playwright's sync API runs an
    # event loop in this thread, and Django refuses ORM calls from inside one.
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = browser.new_page(accept_downloads=True)
            page.set_default_timeout(15_000)
            page.goto(f"{live_server.url}/admin/login/?next=/admin/invoicing/document/")
            page.fill("#id_username", "accountant")
            page.fill("#id_password", "s3cret-pw")
            page.click("input[type=submit]")
            page.wait_for_url("**/admin/invoicing/document/")

            month_filter = page.locator(
                "#changelist-filter details[data-filter-title='issue date'] a",
                has_text="This month",
            )
            month_filter.click()
            page.wait_for_url("**issue_date__gte=*")
            listed = page.locator("#result_list tbody tr").count()

            with page.expect_download() as download_info:
                page.get_by_role("button", name="Export documents (XLSX)").click()
            download = download_info.value
            saved = tmp_path / download.suggested_filename
            download.save_as(saved)
        finally:
            browser.close()

    assert saved.suffix == ".xlsx"
    sheet = load_workbook(saved).active
    rows = list(sheet.iter_rows(values_only=True))
    header, data = rows[0], [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    assert header[:3] == ("document_id", "number", "kind")
    in_month = Document.objects.filter(issue_date__gte=invoices["month_start"])
    assert len(data) == listed == in_month.count() == 3
    assert invoices["earlier"].display_number not in {row["number"] for row in data}
    for column in ("total_net", "total_vat", "total_gross"):
        exported = sum(Decimal(str(row[column])) for row in data)
        assert exported == in_month.aggregate(total=Sum(column))["total"], column
    assert {row["recipient_name"] for row in data} == {"'=cmd|calc"}
