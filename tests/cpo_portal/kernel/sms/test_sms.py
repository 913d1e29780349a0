"""Text messages: the gateways, phone numbers in E.164, what an SMS costs, short links."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from cpo_portal.kernel import sms
from cpo_portal.kernel.errors import InvalidInput
from cpo_portal.kernel.links import ShortLink, delete_expired, short_link
from cpo_portal.kernel.sms import SmsError, fit_sms, normalise_phone, send_sms, sms_segments
from tests.cpo_portal.kernel.sms.fake_twilio import start_fake_twilio

ANNA = "+4915123456789"


@pytest.fixture(autouse=True)
def _fresh_backends():
    sms._backend.cache_clear()
    yield
    sms._backend.cache_clear()


def test_the_file_backend_writes_one_file_per_text(settings, tmp_path):
    settings.SMS_BACKEND = "cpo_portal.kernel.sms.backends.FileBackend"
    settings.SMS_FILE_PATH = str(tmp_path)

    message_id = send_sms(to="+49 151 23456789", body="Ihre Rechnung INV-7 ist bereit.")

    (written,) = tmp_path.iterdir()
    text = written.read_text()
    assert message_id in text
    assert f"To: {ANNA}" in text
    assert text.endswith("Ihre Rechnung INV-7 ist bereit.\n")


def test_the_console_backend_prints_the_text(settings, capsys):
    settings.SMS_BACKEND = "cpo_portal.kernel.sms.backends.ConsoleBackend"

    send_sms(to=ANNA, body="Receipt ready")

    assert f"To: {ANNA}" in capsys.readouterr().out


def test_an_empty_text_or_a_number_that_is_not_one_is_refused(settings, tmp_path):
    settings.SMS_FILE_PATH = str(tmp_path)
    with pytest.raises(SmsError, match="needs a text"):
        send_sms(to=ANNA, body="  ")
    with pytest.raises(InvalidInput):
        send_sms(to="12", body="Hello")
    assert not list(tmp_path.iterdir())


@pytest.fixture
def twilio(settings):
    fake = start_fake_twilio("AC123", "secret")
    settings.SMS_BACKEND = "cpo_portal.kernel.sms.backends.TwilioBackend"
    settings.TWILIO_ACCOUNT_SID = "AC123"
    settings.TWILIO_AUTH_TOKEN = "secret"
    settings.TWILIO_API_BASE = fake.url
    settings.SMS_FROM = "+4930123456"
    yield fake
    fake.stop()


def test_twilio_sends_through_its_sdk_and_returns_its_message_sid(twilio):
    message_id = send_sms(to=ANNA, body="Ihre Zahlung ist eingegangen.")

    assert message_id.startswith("SM")
    assert twilio.sent == [
        {"To": ANNA, "From": "+4930123456", "Body": "Ihre Zahlung ist eingegangen."}
    ]


@pytest.mark.parametrize(
    ("status", "code", "retryable"),
    [(400, 21211, False), (429, 20429, True), (500, 20500, True)],
)
def test_twilio_errors_say_whether_trying_again_can_help(twilio, status, code, retryable):
    twilio.errors.append((status, code, "refused"))

    with pytest.raises(SmsError) as refused:
        send_sms(to=ANNA, body="Hello")

    assert refused.value.retryable is retryable
    assert f"code {code}" in refused.value.reason


def test_twilio_out_of_reach_is_retryable(settings):
    settings.SMS_BACKEND = "cpo_portal.kernel.sms.backends.TwilioBackend"
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = "AC1", "x"
    settings.TWILIO_API_BASE = "http://127.0.0.1:9"

    with pytest.raises(SmsError) as failed:
        send_sms(to=ANNA, body="Hello")

    assert failed.value.retryable


@pytest.mark.parametrize(
    ("number", "region", "e164"),
    [
        ("0151 23456789", "DE", ANNA),
        ("+49 (151) 234-56789", "", ANNA),
        ("06 12 34 56 78", "FR", "+33612345678"),
        ("694 123 4567", "GR", "+306941234567"),
        ("050 123 4567", "AE", "+971501234567"),
    ],
)
def test_mobile_numbers_are_stored_in_e164(number, region, e164):
    assert normalise_phone(number, region) == e164


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("call me", "is not a phone number"),
        ("0151 2345", "is not a valid phone number"),
        ("030 1234567", "is not a mobile number"),
    ],
)
def test_what_cannot_receive_a_text_is_refused_with_the_reason(number, reason):
    with pytest.raises(InvalidInput, match=reason):
        normalise_phone(number, "DE")


def test_segments_follow_the_gsm_and_ucs2_limits():
    assert sms_segments("") == 0
    assert sms_segments("a" * 160) == 1
    assert sms_segments("a" * 161) == 2
    assert sms_segments("a" * 306) == 2
    assert sms_segments("a" * 307) == 3
    # The euro sign and brackets come from the extension table: two units each.
    assert sms_segments("€" * 80) == 1
    assert sms_segments("€" * 81) == 2
    assert sms_segments("Ω" * 160) == 1  # Greek capitals of GSM 03.38
    assert sms_segments("ψ" * 70) == 1  # a Greek small letter is UCS-2
    assert sms_segments("ψ" * 71) == 2
    assert sms_segments("فاتورتك جاهزة " * 5) == 1
    assert sms_segments("فاتورتك جاهزة " * 6) == 2


def test_a_long_text_is_shortened_to_two_parts_keeping_its_link_whole():
    link = "http://localhost:8000/s/AbCdEfGh23/"
    text = "Ihre Rechnung " + "sehr lang " * 60 + link

    fitted = fit_sms(text)

    assert sms_segments(fitted) == 2
    assert fitted.endswith("... " + link)
    assert fit_sms("short " + link) == "short " + link


@pytest.mark.django_db
def test_a_short_link_leads_to_its_page_until_it_expires(client, settings):
    settings.PUBLIC_BASE_URL = "https://portal.example"
    url = short_link("/invoices/12/")
    token = url.rsplit("/", 2)[1]

    assert url == f"https://portal.example/s/{token}/"
    assert len(url) < 40
    followed = client.get(f"/s/{token}/")
    assert (followed.status_code, followed["Location"]) == (302, "/invoices/12/")

    ShortLink.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert client.get(f"/s/{token}/").status_code == 404
    assert client.get("/s/nonsense/").status_code == 404
    assert delete_expired() == 1
    with pytest.raises(ValueError):
        short_link("https://evil.example/")
