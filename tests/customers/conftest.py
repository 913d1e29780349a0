"""Portal fixtures: drivers with accounts, their issued documents and stored PDFs."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
from django.utils import translation

from cpo_portal import i18n
from cpo_portal.kernel.periods import today_for
from customers.models import Customer
from customers.services import create_portal_account
from invoicing.documents.issuing import (
    issue_credit_note,
    issue_session_documents,
    mark_overdue_documents,
)
from invoicing.models import Document
from invoicing.output import pdf
from tests.factories import CustomerFactory
from tests.invoicing.helpers import make_priced_session

PASSWORD = "Plug-in-and-charge-42"


@pytest.fixture(scope="session")
def _compiled_translations():
    """The .mo files as `make install` compiles them, loaded fresh by this process."""
    i18n.compile_catalogs()
    translation.trans_real._translations.clear()
    translation.trans_real._default = None


@pytest.fixture(autouse=True)
def media(settings, tmp_path) -> Path:
    """Stored PDFs in a directory of the test's own, never in var/."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return Path(settings.MEDIA_ROOT)


def make_driver(operator, **fields) -> Customer:
    """An individual billed after each session with a full invoice, and a portal account."""
    fields.setdefault("requires_invoice", True)
    fields.setdefault("billing_mode", Customer.BillingMode.PER_SESSION)
    customer = CustomerFactory(operator=operator, **fields)
    create_portal_account(customer=customer, password=PASSWORD)
    return customer


def issue(customer: Customer, *, day=None, energy_kwh="10.5", start=None) -> Document:
    """One priced session of the customer and the document that bills it, PDF stored."""
    session = make_priced_session(customer.operator, customer, energy_kwh=energy_kwh, start=start)
    (document,) = issue_session_documents(
        session_ids=[session.pk], issue_date=day or today_for(customer.operator)
    )
    pdf.store_document_pdf(document_id=document.pk)
    return document


def make_overdue(customer: Customer) -> Document:
    """A document issued long enough ago to be past its due date, marked overdue."""
    today = today_for(customer.operator)
    document = issue(
        customer,
        day=today - timedelta(days=40),
        start=datetime.combine(today - timedelta(days=45), time(9), tzinfo=UTC),
        energy_kwh="20",
    )
    mark_overdue_documents(today=today)
    document.refresh_from_db()
    return document


def credit(document: Document) -> Document:
    """Cancel a document with a credit note (PDF stored)."""
    credit_note, _replacement = issue_credit_note(document=document, reason="Wrong tariff")
    pdf.store_document_pdf(document_id=credit_note.pk)
    return credit_note


@pytest.fixture
def driver(operator) -> Customer:
    return make_driver(operator, name="Dana Driver", email="dana@example.org")


@pytest.fixture
def other_driver(operator) -> Customer:
    return make_driver(operator, name="Otto Other", email="otto@example.org")


@pytest.fixture
def driver_client(client, driver):
    client.force_login(driver.user)
    return client
