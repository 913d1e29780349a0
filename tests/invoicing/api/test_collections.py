"""Direct-debit collection runs through the API: started for a date, read, file downloaded;
a past date is a 400 on the field; another operator's run is not found."""

from __future__ import annotations

from datetime import timedelta

from lxml import etree

from cpo_portal.kernel.periods import today_for
from invoicing.payments.mandates import give_mandate
from tests.invoicing.helpers import issue_invoice_for

COLLECTIONS = "/api/v1/collections/"


def test_an_integrator_starts_a_run_reads_it_and_downloads_the_pain008(
    api, other_api, operator, invoicing_settings, per_session_customer
):
    invoicing_settings.iban = "DE02120300000000202051"
    invoicing_settings.sepa_creditor_identifier = "DE98ZZZ09999999999"
    invoicing_settings.save()
    give_mandate(customer=per_session_customer, iban="DE89370400440532013000", account_holder="A")
    invoice = issue_invoice_for(per_session_customer)
    day = (today_for(operator) + timedelta(days=60)).isoformat()

    started = api.post(COLLECTIONS, {"date": day})

    assert started.status_code == 201, started.content
    body = started.json()
    assert (body["state"], body["collection_count"], body["first_count"]) == ("written", 1, 1)
    assert body["total"] == str(invoice.total_gross) and body["has_file"] is True
    assert api.get(f"{COLLECTIONS}{body['id']}/").json()["collection_date"] == day
    download = api.get(f"{COLLECTIONS}{body['id']}/file/", HTTP_ACCEPT="application/xml")
    assert download.status_code == 200
    tree = etree.fromstring(b"".join(download.streaming_content))
    assert tree.xpath("string(//*[local-name()='EndToEndId'])") == invoice.display_number
    assert other_api.get(f"{COLLECTIONS}{body['id']}/").status_code == 404

    again = api.post(COLLECTIONS, {"date": day}).json()
    assert (again["state"], again["has_file"]) == ("empty", False)
    assert api.get(f"{COLLECTIONS}{again['id']}/file/").status_code == 404


def test_a_past_date_is_a_field_error(api, operator, invoicing_settings):
    past = (today_for(operator) - timedelta(days=1)).isoformat()
    response = api.post(COLLECTIONS, {"date": past})
    assert response.status_code == 400
    assert "is in the past" in response.json()["date"][0]
