"""Which clock a time is shown on: a session's on its location's, a document's on its operator's,
and every door (PDF, admin, portal, exports) names the zone next to the time."""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from html import unescape
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils.formats import date_format
from pypdf import PdfReader

from cpo_portal.kernel.exports.registry import get_export
from cpo_portal.kernel.exports.writers import row_values
from cpo_portal.kernel.integrations.models import Integrator
from customers.models import Customer
from customers.services import create_portal_account
from invoicing.documents.issuing import issue_session_documents
from invoicing.models import Document
from invoicing.output import pdf
from sessions.models import ChargingSession
from sessions.services import import_tariff, ingest_sessions
from tests.customers.conftest import PASSWORD
from tests.factories import CustomerFactory, EVSEFactory, OperatorFactory

pytestmark = pytest.mark.django_db

TARIFF = {
    "country_code": "GR",
    "party_id": "VWY",
    "id": "TZ-TEST",
    "currency": "EUR",
    "elements": [
        {"price_components": [{"type": "ENERGY", "price": Decimal("0.50"), "step_size": 1}]}
    ],
    "last_updated": "2026-01-01T00:00:00Z",
}
# 20:00-21:30 UTC on 30 November is 22:00-23:30 in Athens (EET, UTC+2).
ATHENS_START = datetime(2026, 11, 30, 20, 0, tzinfo=UTC)


def session_at(operator, *, city, country, time_zone, start, minutes=90) -> ChargingSession:
    """A priced session of a per-session customer at a charger in `time_zone`."""
    import_tariff(operator=operator, data=TARIFF)
    evse = EVSEFactory(
        location__operator=operator,
        location__city=city,
        location__country=country,
        location__time_zone=time_zone,
    )
    customer = CustomerFactory(
        operator=operator,
        name="Eleni Papadopoulou",
        email="eleni@example.org",
        requires_invoice=True,
        billing_mode=Customer.BillingMode.PER_SESSION,
    )
    payload = {
        "source_id": f"TZ-{city}",
        "evse_id": evse.evse_id,
        "tariff_id": TARIFF["id"],
        "start": start.isoformat(),
        "end": (start + timedelta(minutes=minutes)).isoformat(),
        "energy_kwh": "10.000",
        "customer_id": customer.pk,
    }
    (outcome,) = ingest_sessions(operator=operator, source="test", payloads=[payload])
    assert outcome.status == "created", outcome.errors
    return ChargingSession.objects.select_related("evse__location").get(pk=outcome.session_id)


def athens_session(operator) -> ChargingSession:
    return session_at(
        operator, city="Athens", country="GR", time_zone="Europe/Athens", start=ATHENS_START
    )


def document_of(session: ChargingSession) -> Document:
    billed = Document.objects.filter(billed_sessions__session=session).first()
    if billed is not None:  # a Celery worker may have issued it already
        return billed
    (document,) = issue_session_documents(session_ids=[session.pk], issue_date=date(2026, 12, 1))
    return Document.objects.get(pk=document.pk)


def page_text(response) -> str:
    return " ".join(unescape(response.content.decode()).replace("\u00a0", " ").split())


def test_the_pdf_breakdown_shows_a_session_on_the_clock_of_its_charger(operator):
    document = document_of(athens_session(operator))

    reader = PdfReader(io.BytesIO(pdf.render_pdf(document)))
    breakdown = "\n".join(page.extract_text() for page in reader.pages[1:])

    # The operator is in Berlin (22:30 there); the charger's clock said 23:30 EET.
    assert "11/30/2026 22:00\u201323:30 EET" in breakdown
    assert "Times are the local time at each charge point" in breakdown


def test_the_session_list_shows_location_time_with_the_zone_named(admin_client, operator):
    athens_session(operator)

    response = admin_client.get(reverse("admin:charging_chargingsession_changelist"))

    text = page_text(response)
    assert "Started (location time)" in text and "Ended (location time)" in text
    assert "2026-11-30 22:00 EET" in text and "2026-11-30 23:30 EET" in text


def test_a_session_page_shows_its_times_on_the_location_clock_and_says_so(admin_client, operator):
    session = athens_session(operator)

    response = admin_client.get(reverse("admin:charging_chargingsession_change", args=[session.pk]))

    text = page_text(response)
    assert "Times on this page are the location's local time, Europe/Athens." in text
    assert "Nov. 30, 2026, 11:30 p.m. EET" in text  # the read-only end, labelled


def test_a_document_page_shows_operator_time_and_its_sessions_on_their_location_clock(
    admin_client, operator
):
    document = document_of(athens_session(operator))

    response = admin_client.get(reverse("admin:invoicing_document_change", args=[document.pk]))

    text = page_text(response)
    assert "Dates and times on this page are the operator's, Europe/Berlin" in text
    issued = document.issued_at.astimezone(ZoneInfo("Europe/Berlin"))
    assert date_format(issued, "DATETIME_FORMAT") in text  # on the operator's clock
    assert date_format(issued, "DATETIME_FORMAT").endswith(" CET")
    assert "Start (location time)" in text
    assert "2026-11-30 23:30 EET" in text  # the billed session's end


def test_a_list_column_without_a_local_clock_shows_the_operators_time_named(admin_client, operator):
    integrator = Integrator.objects.create(operator=operator, name="Fleet app")
    berlin = integrator.created_at.astimezone(ZoneInfo("Europe/Berlin"))

    text = page_text(admin_client.get(reverse("admin:invoicing_integrator_changelist")))

    assert "Created at" in text
    assert date_format(berlin, "DATETIME_FORMAT") in text  # e.g. "Dec. 3, 2026, 10:30 a.m. CET"
    assert re.search(r"\d{4}, \d{1,2}(:\d\d)? [ap]\.m\. CES?T", text)
    assert not re.search(r"[ap]\.m\. UTC", text)


def test_every_change_page_says_whose_clock_its_times_are_on(admin_client, operator):
    integrator = Integrator.objects.create(operator=operator, name="Fleet app")

    url = reverse("admin:invoicing_integrator_change", args=[integrator.pk])
    text = page_text(admin_client.get(url))

    assert "Times on this page are in Europe/Berlin." in text


def test_operators_on_different_clocks_share_the_admin_on_utc_named(admin_client, operator):
    OperatorFactory(time_zone="Europe/Athens")
    Integrator.objects.create(operator=operator, name="Fleet app")

    text = page_text(admin_client.get(reverse("admin:invoicing_integrator_changelist")))

    assert re.search(r"\d{4}, \d{1,2}(:\d\d)? [ap]\.m\. UTC", text)


def test_the_portal_shows_session_times_on_the_clock_of_the_charger(client, operator):
    session = athens_session(operator)
    create_portal_account(customer=session.customer, password=PASSWORD)
    client.force_login(session.customer.user)

    detail = page_text(client.get(reverse("portal:session", args=[session.pk])))
    listed = page_text(client.get(reverse("portal:sessions")))

    assert "Nov. 30, 2026, 11:30 p.m. EET" in detail
    assert "Nov. 30, 2026, 10 p.m. EET" in listed


def test_a_documents_service_period_is_in_the_operators_local_dates(operator):
    # 22:30-23:30 UTC on 30 November is 23:30 on 30 November to 00:30 on 1 December in Berlin.
    session = session_at(
        operator,
        city="Berlin",
        country="DE",
        time_zone="Europe/Berlin",
        start=datetime(2026, 11, 30, 22, 30, tzinfo=UTC),
        minutes=60,
    )

    document = document_of(session)

    assert (document.period_start, document.period_end) == (date(2026, 11, 30), date(2026, 12, 1))


def test_the_session_export_writes_utc_and_location_time_each_named_in_its_header(operator):
    session = athens_session(operator)
    export = get_export("sessions")
    header, _columns = export.columns()
    (row,) = list(row_values(export, ChargingSession.objects.filter(pk=session.pk)))
    values = dict(zip(header, row, strict=True))

    assert values["ended_at_utc"] == datetime(2026, 11, 30, 21, 30)
    assert values["ended_at_location_time"] == datetime(2026, 11, 30, 23, 30)
    assert values["location_time_zone"] == "Europe/Athens"
