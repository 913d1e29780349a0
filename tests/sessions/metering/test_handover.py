"""Handing the signed data over: the Transparenzsoftware's file from the portal, the public
receipt page and the admin; the readings on the PDF; the file in the per-session e-mail and in
the archive beside the CDR; the EVSE's key through the locations API; signed data sent later
through the sessions API."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from pyocmf import OcmfContainer

from customers.models import Customer
from customers.notifications.attachments import Attachment
from invoicing.archive.archiving import read_entry
from invoicing.archive.sources import archive_document
from invoicing.documents.issuing import issue_session_documents
from invoicing.models import ArchiveEntry, ArchiveKind
from invoicing.output import receipt_links
from invoicing.output.document_messages import document_attachments
from invoicing.output.pdf import render_pdf, store_document_pdf
from invoicing.payments.card_receipts import settle_card_payment
from sessions.metering.simulator import SimulatedMeter
from sessions.models import EVSE, ChargingSession
from sessions.services import ingest_sessions
from tests.cpo_portal.kernel.api.support import Api, make_integrator, make_key
from tests.customers.conftest import make_driver
from tests.factories import CustomerFactory, EVSEFactory
from tests.invoicing.helpers import helper_tariff
from tests.invoicing.receipts.conftest import capture_for, card_payment_for

pytestmark = pytest.mark.django_db
START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@pytest.fixture
def meter():
    return SimulatedMeter(serial="EMH-H1", next_page=7)


@pytest.fixture
def evse(operator, meter):
    return EVSEFactory(
        location__operator=operator,
        calibration_law_relevant=True,
        meter_public_key=meter.public_key_hex,
    )


def ingest_signed(operator, evse, meter, customer, source_id="SIGNED-1"):
    end = START + timedelta(minutes=45)
    records = list(meter.transaction(start=START, end=end, start_wh=1_000_000, end_wh=1_015_250))
    (outcome,) = ingest_sessions(
        operator=operator,
        source="cpms",
        payloads=[
            {
                "source_id": source_id,
                "evse_id": evse.evse_id,
                "tariff_id": helper_tariff(operator).ocpi_id,
                "start": START.isoformat(),
                "end": end.isoformat(),
                "energy_kwh": "15.0",
                "customer_id": customer.pk,
                "ocmf": records,
            }
        ],
    )
    assert outcome.status == "created", outcome.errors
    session = ChargingSession.objects.get(pk=outcome.session_id)
    assert session.quarantine == ""
    session.records = records
    return session


@pytest.fixture
def signed_session(operator, evse, meter):
    driver = make_driver(operator, name="Dana Driver", email="dana@example.org")
    return ingest_signed(operator, evse, meter, driver)


def pdf_text(data: bytes) -> str:
    tool = shutil.which("pdftotext")
    if tool is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    text = subprocess.run(
        [tool, "-layout", "-", "-"], input=data, capture_output=True, check=True
    ).stdout.decode()
    return " ".join(text.split())


def assert_transparency_file(data: bytes, session, tmp_path) -> None:
    """The file opens as the Transparenzsoftware's XML and verifies: one begin, one end."""
    path = tmp_path / "signed.xml"
    path.write_bytes(data)
    container = OcmfContainer.from_xml(path)
    assert [record.ocmf.payload.PG for record in container] == ["T7", "T8"]
    assert all(record.verify_signature() for record in container)
    (result,) = container.check_eichrecht(errors_only=True)
    assert result.is_compliant, result.issues
    for record in session.records:
        assert record.encode() in data


def test_the_driver_downloads_the_file_from_the_portal_session_page(
    client, signed_session, tmp_path
):
    client.force_login(signed_session.customer.user)
    page = client.get(reverse("portal:session", args=[signed_session.pk])).content.decode()
    assert "EMH-H1" in page
    assert re.search(r"1[.,]015[.,]250\s*kWh", page.replace("\u00a0", " "))
    assert "https://www.safe-ev.de/de/transparenzsoftware.php" in page
    response = client.get(reverse("portal:session-signed-data", args=[signed_session.pk]))
    assert response.status_code == 200
    assert (
        response["Content-Disposition"] == 'attachment; filename="signed-meter-data-SIGNED-1.xml"'
    )
    assert_transparency_file(response.content, signed_session, tmp_path)


def test_another_driver_cannot_download_it(client, operator, signed_session):
    other = make_driver(operator, name="Otto", email="otto@example.org")
    client.force_login(other.user)
    response = client.get(reverse("portal:session-signed-data", args=[signed_session.pk]))
    assert response.status_code == 404


def test_the_public_receipt_page_offers_the_file(client, signed_session, tmp_path):
    path = receipt_links.receipt_path(signed_session.pk)
    page = client.get(path).content.decode()
    assert "Download the signed meter data (XML)" in page
    response = client.get(f"{path}signed-data/")
    assert response.status_code == 200
    assert_transparency_file(response.content, signed_session, tmp_path)
    assert client.get("/r/forged.token/signed-data/").status_code == 404


def test_the_admin_downloads_it_and_shows_the_verdict(admin_client, signed_session, tmp_path):
    page = admin_client.get(
        reverse("admin:charging_chargingsession_change", args=[signed_session.pk])
    ).content.decode()
    assert "Signed meter data verified" in page
    response = admin_client.get(
        reverse("admin:charging_chargingsession_signed_data", args=[signed_session.pk])
    )
    assert_transparency_file(response.content, signed_session, tmp_path)


def test_the_document_prints_the_readings_and_e_mails_the_file(signed_session, settings):
    settings.PUBLIC_BASE_URL = "https://cpo.example"
    (document,) = issue_session_documents(session_ids=[signed_session.pk])
    text = pdf_text(render_pdf(document))
    assert "Meter EMH-H1: 1,000.000 kWh → 1,015.250 kWh" in text
    assert receipt_links.signed_data_url(signed_session.pk) in text
    assert "transparenzsoftware" in text.lower()
    store_document_pdf(document_id=document.pk)
    attachments: list[Attachment] = document_attachments(document.pk)
    names = [name for name, _data, _type in attachments]
    assert "signed-meter-data-SIGNED-1.xml" in names
    xml = dict((name, data) for name, data, _type in attachments)["signed-meter-data-SIGNED-1.xml"]
    assert signed_session.records[0].encode() in xml


def test_the_archive_keeps_the_file_beside_the_cdr(signed_session, settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "archive": {
            "BACKEND": "invoicing.archive.storage.WriteOnceFileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "archive")},
        },
    }
    (document,) = issue_session_documents(session_ids=[signed_session.pk])
    store_document_pdf(document_id=document.pk)
    archive_document(document_id=document.pk)
    kinds = set(ArchiveEntry.objects.values_list("kind", flat=True))
    assert {ArchiveKind.SESSION_PAYLOAD, ArchiveKind.SIGNED_METER_DATA} <= kinds
    entry = ArchiveEntry.objects.get(kind=ArchiveKind.SIGNED_METER_DATA)
    assert signed_session.records[1].encode() in read_entry(entry)


def test_the_locations_api_keeps_each_evses_key_and_flags(client, operator, meter):
    api = Api(client, make_key(make_integrator(operator)))
    location = {
        "id": "LOC-1",
        "name": "Hof",
        "address": "Hofweg 1",
        "city": "Kiel",
        "postal_code": "24103",
        "country": "DE",
        "time_zone": "Europe/Berlin",
        "evses": [
            {
                "uid": "1",
                "evse_id": "DE*CPO*E1",
                "calibration_law_relevant": True,
                "clock_legally_relevant": False,
                "meter_public_key": meter.public_key_hex,
            }
        ],
    }
    response = api.post("/api/v1/locations/", location)
    assert response.status_code == 201, response.content
    evse = EVSE.objects.get(evse_id="DE*CPO*E1")
    assert (evse.calibration_law_relevant, evse.clock_legally_relevant) == (True, False)
    assert evse.meter_public_key == meter.public_key_hex
    assert response.json()["evses"][0]["meter_public_key"] == meter.public_key_hex
    location["evses"][0]["meter_public_key"] = "not a key"
    location["evses"][0]["calibration_law_relevant"] = "yes"
    refused = api.post("/api/v1/locations/", location)
    assert refused.status_code == 400
    assert set(refused.json()) >= {
        "evses.0.meter_public_key",
        "evses.0.calibration_law_relevant",
    }


def test_signed_data_sent_later_through_the_api_release_the_session(client, operator, evse, meter):
    api = Api(client, make_key(make_integrator(operator)))
    session = {
        "source_id": "LATE-1",
        "evse_id": evse.evse_id,
        "tariff_id": helper_tariff(operator).ocpi_id,
        "start": START.isoformat(),
        "end": (START + timedelta(hours=1)).isoformat(),
        "energy_kwh": "9.000",
    }
    created = api.post("/api/v1/sessions/", session).json()
    assert created["quarantine"] == "open"
    assert created["total_gross"] is None
    assert created["meter_issues"][0].startswith("No signed meter data")
    begin, end = meter.transaction(
        start=START, end=START + timedelta(hours=1), start_wh=0, end_wh=8_500
    )
    signed = {
        "encoding_method": "OCMF",
        "signed_values": [
            {"nature": "Start", "signed_data": begin},
            {"nature": "End", "signed_data": end},
        ],
    }
    url = f"/api/v1/sessions/{created['id']}/signed-data/"
    released = api.post(url, signed)
    assert released.status_code == 200, released.content
    body = released.json()
    assert (body["quarantine"], body["meter_verdict"], body["energy_kwh"]) == ("", "valid", "8.500")
    assert body["total_gross"] is not None
    assert api.post(url, signed).status_code == 409
    bad = api.post(url, {"encoding_method": "OCMF", "signed_values": "x"})
    assert bad.status_code == 400


def test_a_card_receipt_prints_the_readings_and_the_files_link(operator, evse, meter, settings):
    settings.PUBLIC_BASE_URL = "https://cpo.example"
    walk_in = CustomerFactory(
        operator=operator, kind=Customer.Kind.ANONYMOUS, name="", email="", street=""
    )
    session = ingest_signed(operator, evse, meter, walk_in, source_id="WALK-IN-1")
    entry = capture_for(session)
    receipt = settle_card_payment(
        session_id=session.pk,
        transaction_id=entry.pk,
        card_payment=card_payment_for(session, entry),
    )
    assert receipt.kind == "sales_receipt"
    text = pdf_text(render_pdf(receipt))
    assert "Meter EMH-H1: 1,000.000 kWh → 1,015.250 kWh" in text
    assert "https://cpo.example/r/" in text
