"""Staff enter a SEPA mandate a customer signed on paper, see it masked, and revoke it."""

from __future__ import annotations

from invoicing.payments.models import MandateSource, MandateStatus, SepaMandate

MANDATES = "/admin/invoicing/sepamandate/"


def enter(admin_client, customer, iban):
    return admin_client.post(
        f"{MANDATES}add/",
        {
            "customer": customer.pk,
            "iban": iban,
            "bic": "",
            "account_holder": "Ada Lovelace",
            "signed_on": "2026-11-30",
        },
    )


def test_a_bad_iban_is_shown_on_the_form_and_nothing_is_stored(admin_client, customer):
    response = enter(admin_client, customer, "DE89370400440532013001")
    assert response.status_code == 200
    assert "iban" in response.context["adminform"].form.errors
    assert not SepaMandate.objects.exists()


def test_staff_enter_a_mandate_see_it_masked_and_revoke_it(admin_client, customer):
    response = enter(admin_client, customer, "DE89 3704 0044 0532 0130 00")
    assert response.status_code == 302
    mandate = SepaMandate.objects.get()
    assert mandate.source == MandateSource.STAFF and mandate.bic == "COBADEFFXXX"
    listing = admin_client.get(MANDATES).content.decode()
    assert "DE89 •••• 3000" in listing and "DE89370400440532013000" not in listing

    admin_client.post(MANDATES, {"action": "revoke_selected", "_selected_action": [mandate.pk]})
    mandate.refresh_from_db()
    assert mandate.status == MandateStatus.REVOKED
