"""Document PDFs: every content option shows or hides what it should, in every language.

Documents are issued by the real services from ingested, priced sessions; the PDFs are made by
the real renderer and read back with pypdf (text) and pdftoppm (pictures).
"""

from __future__ import annotations

import hashlib
import io
import itertools
import os
import re
import shutil
import stat
import subprocess
import time
import unicodedata
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import polib
import pytest
from django.utils import translation
from PIL import Image
from pypdf import PdfReader

from cpo_portal import i18n
from cpo_portal.kernel.periods import previous_period, today_for
from customers.models import Customer
from invoicing.billing.runs import run_billing
from invoicing.documents.issuing import (
    correct_recipient_details,
    issue_credit_note,
    issue_session_documents,
)
from invoicing.models import (
    Document,
    DocumentFile,
    DocumentKind,
    InvoicingSettings,
    RenderFailure,
)
from invoicing.output import pdf
from sessions.services import import_tariff, ingest_sessions
from tests.factories import CustomerFactory, EVSEFactory

# 0.3917 per kWh appears nowhere else, so its absence proves that no per-kWh price is printed.
TARIFF = {
    "country_code": "DE",
    "party_id": "VWY",
    "id": "PDF-TEST",
    "currency": "EUR",
    "elements": [
        {"price_components": [{"type": "FLAT", "price": Decimal("1.00"), "step_size": 1}]},
        {"price_components": [{"type": "ENERGY", "price": Decimal("0.3917"), "step_size": 1}]},
        {"price_components": [{"type": "PARKING_TIME", "price": Decimal("6.00"), "step_size": 60}]},
    ],
    "last_updated": "2026-01-01T00:00:00Z",
}
TIMES = "\u00d7"  # the multiplication sign between quantity and unit price
_ids = itertools.count(1)


@pytest.fixture(autouse=True, scope="module")
def _compiled_translations():
    """The .mo files as `make install` compiles them, loaded fresh by this process."""
    i18n.compile_catalogs()
    translation.trans_real._translations.clear()
    translation.trans_real._default = None
    yield


@pytest.fixture
def setup(operator):
    """An operator with notice and custom text, a tariff with three components and an EVSE."""
    InvoicingSettings.objects.filter(operator=operator).update(
        notice="Thank you for charging with VoltWay.",
        custom_text="Registered at Amtsgericht Charlottenburg HRB 1",
    )
    operator.bank_details = "IBAN DE89 3704 0044 0532 0130 00"
    operator.tax_number = "30/123/45678"
    operator.save()
    import_tariff(operator=operator, data=TARIFF)
    evse = EVSEFactory(location__operator=operator)
    return operator, evse


def set_options(operator, **options) -> None:
    InvoicingSettings.objects.filter(operator=operator).update(**options)
    operator.refresh_from_db()


def ingest(operator, evse, customer, *, start: datetime, minutes=90, idle=30, kwh="12.345"):
    payload = {
        "source_id": f"PDF-{next(_ids)}",
        "evse_id": evse.evse_id,
        "tariff_id": TARIFF["id"],
        "start": start.isoformat(),
        "end": (start + timedelta(minutes=minutes)).isoformat(),
        "energy_kwh": kwh,
        "idle_minutes": idle,
        "customer_id": customer.pk,
    }
    (outcome,) = ingest_sessions(operator=operator, source="test", payloads=[payload])
    assert outcome.status == "created", outcome.errors
    return outcome.session_id


def issue_document(setup, *, language="en", kind="individual", **customer_fields) -> Document:
    """One per-session document for a new customer in `language`."""
    operator, evse = setup
    fields = {
        "operator": operator,
        "kind": kind,
        "language": language,
        "requires_invoice": True,
        "billing_mode": Customer.BillingMode.PER_SESSION,
        "name": "Anna Schmidt",
        **customer_fields,
    }
    if kind == "company":
        fields.update(kind=Customer.Kind.COMPANY, company_name="Logistik Nord GmbH")
        fields.setdefault("vat_id", "DE811907980")
    customer = CustomerFactory(**fields)
    session_id = ingest(operator, evse, customer, start=datetime(2026, 3, 2, 9, tzinfo=UTC))
    documents = issue_session_documents(session_ids=[session_id], issue_date=date(2026, 3, 3))
    if documents:
        return Document.objects.get(pk=documents[0].pk)
    # With a Celery worker running, the task that ingest queued may have issued it first.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        document = Document.objects.filter(billed_sessions__session_id=session_id).first()
        if document is not None:
            return document
        time.sleep(0.05)
    raise AssertionError(f"session {session_id} was not billed")


def monthly_document(setup, *, sessions: int, language="en") -> Document:
    operator, evse = setup
    customer = CustomerFactory(
        operator=operator,
        language=language,
        requires_invoice=True,
        billing_mode=Customer.BillingMode.MONTHLY,
    )
    period = previous_period(today_for(operator))
    first = datetime(period.year, period.month, 2, 6, tzinfo=UTC)
    for index in range(sessions):
        ingest(operator, evse, customer, start=first + timedelta(hours=6 * index), minutes=45)
    run_billing(operator=operator, period=period)
    return Document.objects.get(customer=customer)


def pages_text(data: bytes) -> list[str]:
    """Each page's text, Arabic presentation forms folded back to letters."""
    reader = PdfReader(io.BytesIO(data))
    return [unicodedata.normalize("NFKC", page.extract_text()) for page in reader.pages]


def stored_bytes(document_file: DocumentFile) -> bytes:
    with document_file.file.open("rb") as handle:
        return handle.read()


def text_of(document: Document) -> tuple[str, list[str]]:
    pages = pages_text(pdf.render_pdf(document))
    return "\n".join(pages), pages


# --- content options ------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_detailed_invoice_shows_every_enabled_option(setup):
    document = issue_document(setup)

    text, pages = text_of(document)

    first = pages[0]
    for expected in [
        "Invoice",
        document.display_number,
        "VoltWay Charging GmbH",
        "VAT ID: DE136695976",
        "Tax number: 30/123/45678",
        "Anna Schmidt",
        "Service period",
        "03/02/2026",
        "Country of delivery",
        "Total energy",
        "12.345 kWh",
        "Total duration",
        "1 h 30 min",
        "Energy",
        "0.3917",
        "Idle (parking) time",
        "Connection fee",
        "VAT summary",
        "19 %",
        f"{document.total_gross} EUR",
        "Due date",
        "IBAN DE89 3704 0044 0532 0130 00",
        "Thank you for charging with VoltWay.",
        "Registered at Amtsgericht Charlottenburg HRB 1",
    ]:
        assert expected in first, expected
    assert "Services breakdown" in pages[1]
    assert f"12.345 kWh {TIMES} 0.3917" in pages[1]  # quantity, unit and unit price
    assert "Subtotal excl." in pages[1]
    assert "Includes VAT at" not in text  # that is the simplified receipt's wording


@pytest.mark.django_db
def test_options_switched_off_leave_their_content_out(setup):
    operator, _evse = setup
    set_options(
        operator,
        show_country=False,
        show_energy=False,
        show_duration=False,
        breakdown_page=False,
        notice="",
        custom_text="",
    )
    document = issue_document(setup)

    text, pages = text_of(document)

    assert len(pages) == 1
    for absent in [
        "Country of delivery",
        "Total energy",
        "Total duration",
        "Services breakdown",
        "Thank you",
    ]:
        assert absent not in text, absent
    assert "Energy" in text  # the detailed services table still names its services


@pytest.mark.django_db
def test_a_single_row_invoice_names_only_the_services_label(setup):
    operator, _evse = setup
    set_options(operator, services_table="single", breakdown_page=False)
    document = issue_document(setup)

    text, _pages = text_of(document)

    assert "EV Charging Services (1 session)" in text
    for absent in ["Idle (parking) time", "Connection fee", "Unit price", "0.3917"]:
        assert absent not in text, absent
    assert "12.345 kWh" in text  # total energy above the table is still shown


@pytest.mark.parametrize("language", ["en", "de", "ar"])
@pytest.mark.django_db
def test_hide_energy_prints_no_kwh_and_no_per_kwh_price_anywhere(setup, language):
    operator, _evse = setup
    set_options(operator, hide_energy=True, show_energy=True, breakdown_page=True)
    document = issue_document(setup, language=language)

    text, pages = text_of(document)

    assert len(pages) == 2  # the breakdown page is there, with the services label only
    assert "kWh" not in text
    assert "0.3917" not in text and "0,3917" not in text
    for word in ["Energy", "Energie", "الطاقة", "12.345", "12,345"]:
        assert word not in text, word
    with translation.override(language):
        label = translation.gettext("EV Charging Services")
    # Each session of the breakdown is just the services label (which may wrap in its cell).
    assert label in " ".join(pages[1].split())


@pytest.mark.django_db
def test_a_company_recipient_shows_its_vat_id_and_registration(setup):
    document = issue_document(setup, kind="company", company_registration_id="HRB 123456")

    text, _pages = text_of(document)

    assert "Logistik Nord GmbH" in text
    assert "VAT ID: DE811907980" in text
    assert "Company registration: HRB 123456" in text


# --- kinds ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_credit_note_references_the_invoice_and_negates_the_amounts(setup):
    invoice = issue_document(setup)
    credit_note, _ = issue_credit_note(document=invoice, reason="Wrong tariff applied")

    text, _pages = text_of(credit_note)

    assert "Cancellation invoice" in text
    assert credit_note.display_number in text
    assert "Cancels invoice" in text
    assert f"cancels invoice {invoice.display_number}" in text
    assert "Wrong tariff applied" in text
    assert f"-{invoice.total_gross} EUR" in text
    assert "Please pay" not in text and "Due date" not in text


@pytest.mark.django_db
def test_a_small_sales_receipt_carries_the_simplified_content(setup):
    operator, _evse = setup
    set_options(operator, always_issue=True)
    document = issue_document(setup, requires_invoice=False)
    assert document.kind == DocumentKind.SALES_RECEIPT
    assert document.total_gross <= Decimal("250")

    text, pages = text_of(document)

    assert len(pages) == 1  # simplified: no breakdown page either
    assert "Sales receipt" in text
    assert "VoltWay Charging GmbH" in text and "VAT ID: DE136695976" in text
    assert "Includes VAT at 19 %" in text
    assert f"{document.total_gross} EUR" in text
    for absent in ["Bill to", "Anna Schmidt", "VAT summary", "Net amount", "Please pay"]:
        assert absent not in text, absent


@pytest.mark.django_db
def test_a_pro_forma_says_it_is_not_a_tax_invoice(setup):
    operator, _evse = setup
    set_options(operator, document_type="pro_forma")
    document = issue_document(setup)

    text, _pages = text_of(document)

    assert "Pro forma invoice" in text
    assert "This pro forma invoice is not a tax invoice." in text


@pytest.mark.django_db
def test_a_document_renders_from_its_frozen_profile_not_the_live_settings(setup):
    operator, _evse = setup
    document = issue_document(setup)
    set_options(operator, hide_energy=True, notice="Changed later", services_table="single")

    text, _pages = text_of(document)

    assert "Thank you for charging with VoltWay." in text
    assert "Changed later" not in text
    assert "12.345 kWh" in text and "Idle (parking) time" in text


@pytest.mark.django_db
def test_a_monthly_breakdown_lists_every_session_in_tables_of_limited_length(setup, monkeypatch):
    monkeypatch.setattr(pdf, "BREAKDOWN_SESSIONS_PER_TABLE", 4)
    document = monthly_document(setup, sessions=9)
    assert document.session_count == 9

    html = pdf.render_html(document)
    _text, pages = text_of(document)

    assert html.count('<table class="breakdown') == 1 + 3  # page header + 4 + 4 + 1 sessions
    breakdown = "\n".join(pages[1:])
    assert breakdown.count(f"12.345 kWh {TIMES} 0.3917") == 9
    assert "EV Charging Services" not in pages[0]  # detailed table: grouped by service
    assert "Energy" in pages[0]


# --- languages ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "words"),
    [
        ("de", ["Rechnung", "Leistungszeitraum", "Energie", "12,345 kWh", "Fällig am", "0,3917"]),
        ("fr", ["Facture", "Période de prestation", "Énergie", "12,345 kWh", "Total TTC"]),
        ("el", ["Τιμολόγιο", "Περίοδος παροχής", "Ενέργεια", "12,345 kWh", "Ανάλυση ΦΠΑ"]),
        ("ar", ["فاتورة", "فترة الخدمة", "الطاقة", "12,345 kWh", "ملخص ضريبة القيمة المضافة"]),
    ],
)
@pytest.mark.django_db
def test_the_customers_language_chooses_the_documents_language(setup, language, words):
    document = issue_document(setup, language=language)
    assert document.language == language

    text, _pages = text_of(document)

    for word in words:
        assert word in text, word
    assert "Service period" not in text


@pytest.mark.django_db
def test_an_arabic_document_keeps_numbers_dates_and_ids_readable(setup):
    document = issue_document(setup, language="ar")

    text, _pages = text_of(document)

    assert "02/03/2026" in text  # the service period, in order despite the right-to-left line
    assert document.display_number in text
    assert "DE136695976" in text
    assert f"{str(document.total_gross).replace('.', ',')} EUR" in text
    # The duration in Arabic units; pypdf reads this run in drawing order, so either order.
    assert re.search(r"1\s*س\s*30\s*د|د\s*30\s*س\s*1", text)


# --- pictures: what users get ---------------------------------------------------------------


@pytest.fixture
def pdftoppm() -> str:
    """pdftoppm from poppler-utils: skipped on a laptop without it, required in CI."""
    path = shutil.which("pdftoppm")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("CI needs pdftoppm: apt-get install poppler-utils")
        pytest.skip("pdftoppm (Debian package poppler-utils) is not installed")
    return path


def first_page_picture(data: bytes, tmp_path: Path, pdftoppm: str) -> Image.Image:
    source = tmp_path / "document.pdf"
    source.write_bytes(data)
    command = [pdftoppm, "-r", "40", "-png", "-f", "1", "-l", "1", "-singlefile"]
    subprocess.run([*command, source, tmp_path / "p"], check=True)
    return Image.open(tmp_path / "p.png").convert("L")


def ink(image: Image.Image, box: tuple[float, float, float, float]) -> int:
    """Dark pixels in a box given as fractions of the page."""
    width, height = image.size
    crop = image.crop(
        (int(box[0] * width), int(box[1] * height), int(box[2] * width), int(box[3] * height))
    )
    return sum(crop.histogram()[:128])


@pytest.mark.django_db
def test_an_arabic_page_is_the_mirror_of_an_english_one(setup, tmp_path, pdftoppm):
    english_pdf = pdf.render_pdf(issue_document(setup, language="en"))
    arabic_pdf = pdf.render_pdf(issue_document(setup, language="ar"))
    english = first_page_picture(english_pdf, tmp_path, pdftoppm)
    arabic = first_page_picture(arabic_pdf, tmp_path, pdftoppm)

    # The big title sits top right in English and top left in Arabic; labels follow it.
    title_band = (0.0, 0.0, 0.5, 0.09)
    right_band = (0.5, 0.0, 1.0, 0.09)
    assert ink(english, right_band) > 2 * ink(english, title_band)
    assert ink(arabic, title_band) > 2 * ink(arabic, right_band)
    # Both pages carry text over most of their height: nothing fell back to empty boxes.
    for page in (english, arabic):
        assert ink(page, (0, 0.1, 1, 0.8)) > 1000


# --- storing ----------------------------------------------------------------------------------


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return Path(settings.MEDIA_ROOT)


@pytest.mark.django_db
def test_a_stored_pdf_has_its_sha256_and_storing_again_changes_nothing(setup, media):
    document = issue_document(setup)

    first, created = pdf.store_document_pdf(document_id=document.pk)
    again, created_again = pdf.store_document_pdf(document_id=document.pk)
    rerendered, new_revision = pdf.store_document_pdf(
        document_id=document.pk, reason=DocumentFile.Reason.RERENDERED
    )

    assert created and not created_again and not new_revision
    assert first.pk == again.pk == rerendered.pk
    assert first.revision == 1 and first.reason == DocumentFile.Reason.ISSUED
    with first.file.open("rb") as stored:
        assert hashlib.sha256(stored.read()).hexdigest() == first.sha256
    assert first.size == (media / first.file.name).stat().st_size
    assert first.file.name.startswith(f"documents/{document.operator_id}/2026/03/")


@pytest.mark.django_db
def test_a_stored_pdf_is_readable_by_the_service_only(setup, media):
    document = issue_document(setup)

    stored, _created = pdf.store_document_pdf(document_id=document.pk)

    path = media / stored.file.name
    assert stat.S_IMODE(path.stat().st_mode) == 0o640  # no "other" bits: not world-readable
    for directory in path.relative_to(media).parents:
        if directory != Path("."):
            assert stat.S_IMODE((media / directory).stat().st_mode) == 0o750, directory


@pytest.mark.django_db
def test_a_recipient_correction_adds_a_revision_and_keeps_the_original_file(setup, media):
    document = issue_document(setup)
    original, _ = pdf.store_document_pdf(document_id=document.pk)

    correct_recipient_details(
        document=document, changes={"recipient_name": "Anna Meier"}, reason="Name changed"
    )
    corrected, created = pdf.store_document_pdf(
        document_id=document.pk, reason=DocumentFile.Reason.RECIPIENT_CORRECTED
    )
    again, created_again = pdf.store_document_pdf(
        document_id=document.pk, reason=DocumentFile.Reason.RECIPIENT_CORRECTED
    )

    assert created and not created_again and again.pk == corrected.pk
    assert corrected.revision == 2 and corrected.correction is not None
    assert pdf.latest_file(document) == corrected
    old_text = "\n".join(pages_text(stored_bytes(original)))
    new_text = "\n".join(pages_text(stored_bytes(corrected)))
    assert "Anna Schmidt" in old_text and "Anna Meier" not in old_text
    assert "Anna Meier" in new_text
    assert original.sha256 != corrected.sha256


@pytest.mark.django_db
def test_a_broken_logo_fails_the_render_with_a_recorded_reason(setup, media):
    operator, _evse = setup
    (media / "logos").mkdir(parents=True)
    (media / "logos" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    set_options(operator, logo="logos/broken.png")
    pdf.load_logo.cache_clear()
    document = issue_document(setup)

    with pytest.raises(pdf.RenderError, match="logo"):
        pdf.store_document_pdf(document_id=document.pk)

    failure = RenderFailure.objects.get(document=document)
    assert "logos/broken.png" in failure.error
    assert not DocumentFile.objects.filter(document=document).exists()


@pytest.mark.django_db
def test_a_logo_is_printed_when_it_is_a_real_image(setup, media):
    operator, _evse = setup
    (media / "logos").mkdir(parents=True)
    Image.new("RGB", (300, 100), "#0a7").save(media / "logos" / "voltway.png")
    set_options(operator, logo="logos/voltway.png")
    pdf.load_logo.cache_clear()
    document = issue_document(setup)

    data = pdf.render_pdf(document)

    reader = PdfReader(io.BytesIO(data))
    images = list(reader.pages[0].images)
    assert len(images) == 1


@pytest.mark.django_db
def test_a_missing_font_fails_the_render_instead_of_falling_back(setup, monkeypatch):
    document = issue_document(setup)
    monkeypatch.setitem(pdf.FONTS, "bold", "invoicing/fonts/Missing-Bold.ttf")

    with pytest.raises(pdf.RenderError, match=re.escape("Missing-Bold.ttf")):
        pdf.store_document_pdf(document_id=document.pk)

    assert RenderFailure.objects.filter(document=document).exists()


# --- translations -----------------------------------------------------------------------------


def test_every_document_and_email_string_is_translated_in_every_language():
    template_dir = Path(__file__).resolve().parents[3] / "templates" / "invoicing"
    msgids = set()
    templates = [*template_dir.glob("pdf/*.html"), *template_dir.glob("email/document*")]
    for template in templates:
        source = template.read_text()
        msgids |= set(re.findall(r'{% trans "([^"]+)" %}', source))
        for block in re.findall(r"{% blocktrans[^%]*%}(.*?){% endblocktrans %}", source, re.S):
            msgids.add(re.sub(r"{{ (\w+) }}", r"%(\1)s", block))
    assert len(msgids) > 40
    for language in ("de", "el", "fr", "ar"):
        catalog = polib.pofile(str(i18n.LOCALE_DIR / language / "LC_MESSAGES" / "django.po"))
        translated = {entry.msgid for entry in catalog.translated_entries()}
        assert msgids <= translated, (language, sorted(msgids - translated))
        assert not catalog.fuzzy_entries()
    assert not i18n.stale_catalogs()
