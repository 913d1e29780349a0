"""In a real browser a driver switches a payment message to SMS only; the required
direct-debit pre-notification is shown but cannot be changed."""

from __future__ import annotations

import pytest

from customers.notifications.models import NotificationPreference
from tests.conftest import CHROMIUM
from tests.customers.conftest import PASSWORD, make_driver

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_driver_chooses_sms_for_payments_and_cannot_switch_off_the_pre_notification(
    live_server, operator, _compiled_translations
):
    from playwright.sync_api import expect, sync_playwright

    driver = make_driver(operator, name="Dana Berg", email="dana@example.org")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = browser.new_page()
            page.set_default_timeout(15_000)
            page.goto(f"{live_server.url}/sign-in/")
            page.get_by_label("E-mail address").fill("dana@example.org")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"{live_server.url}/")

            page.get_by_role("link", name="My notifications").click()
            expect(page.get_by_label("Direct-debit pre-notification")).to_be_disabled()
            page.get_by_label("Payment succeeded").select_option("sms")
            page.get_by_role("button", name="Save").click()
            expect(page.get_by_text("Your notification choices are saved.")).to_be_visible()
            expect(page.get_by_label("Payment succeeded")).to_have_value("sms")
        finally:
            browser.close()

    choices = dict(
        NotificationPreference.objects.filter(customer=driver).values_list("event", "channels")
    )
    assert choices["payment_succeeded"] == "sms"
    assert "direct_debit_pre_notification" not in choices
