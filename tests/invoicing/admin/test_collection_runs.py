"""Staff start a direct-debit collection run for a date, see its counts and download the file."""

from __future__ import annotations

import datetime

from lxml import etree

from cpo_portal.kernel.periods import today_for
from invoicing.documents.models import Document, DocumentStatus
from invoicing.payments.mandates import give_mandate
from invoicing.payments.models import (
    CollectionRun,
    CollectionRunState,
    PaymentTransaction,
    TransactionKind,
)
from invoicing.tasks import write_collection_run

RUNS = "/admin/invoicing/collectionrun/"


def start(admin_client, operator, day):
    return admin_client.post(
        f"{RUNS}add/", {"operator": operator.pk, "collection_date": day.isoformat()}
    )


def test_staff_start_a_run_see_its_counts_and_download_the_pain008(
    admin_client, operator, invoicing_settings, customer, invoice
):
    invoicing_settings.iban = "DE02120300000000202051"
    invoicing_settings.sepa_creditor_identifier = "DE98ZZZ09999999999"
    invoicing_settings.save()
    give_mandate(customer=customer, iban="DE89370400440532013000", account_holder="Ada")
    Document.objects.filter(pk=invoice.pk).update(status=DocumentStatus.ISSUED)
    day = today_for(operator) + datetime.timedelta(days=60)

    response = start(admin_client, operator, day)

    assert response.status_code == 302, response.context["form"].errors
    run = CollectionRun.objects.get()
    assert (run.state, run.due_count) == (CollectionRunState.QUEUED, 1)
    page = admin_client.get(response["Location"]).content.decode()
    assert "Being written" in page and 'http-equiv="refresh"' in page
    # The worker writes it, once however often the task is delivered.
    assert write_collection_run(run.pk) == CollectionRunState.WRITTEN
    assert write_collection_run(run.pk) == CollectionRunState.WRITTEN
    run.refresh_from_db()
    assert (run.state, run.collection_count, run.first_count) == (CollectionRunState.WRITTEN, 1, 1)
    assert 'http-equiv="refresh"' not in admin_client.get(response["Location"]).content.decode()
    listing = admin_client.get(RUNS).content.decode()
    assert "File written" in listing and f"{RUNS}{run.pk}/file/" in listing
    assert f"{RUNS}return/" in listing
    download = admin_client.get(f"{RUNS}{run.pk}/file/")
    tree = etree.fromstring(b"".join(download.streaming_content))
    assert tree.xpath("string(//*[local-name()='EndToEndId'])") == invoice.display_number

    again = start(admin_client, operator, day)
    assert again.status_code == 302
    write_collection_run(CollectionRun.objects.latest("pk").pk)
    assert CollectionRun.objects.filter(state=CollectionRunState.EMPTY).count() == 1
    assert PaymentTransaction.objects.filter(kind=TransactionKind.DIRECT_DEBIT).count() == 1


def test_a_run_that_cannot_be_written_says_why(
    admin_client, operator, invoicing_settings, customer, invoice
):
    invoicing_settings.iban = "DE02120300000000202051"
    invoicing_settings.sepa_creditor_identifier = "DE98ZZZ09999999999"
    invoicing_settings.save()
    response = start(admin_client, operator, today_for(operator) + datetime.timedelta(days=5))
    run = CollectionRun.objects.get()
    # The creditor identifier was removed before a worker got to the run.
    invoicing_settings.sepa_creditor_identifier = ""
    invoicing_settings.save()
    assert write_collection_run(run.pk) == CollectionRunState.FAILED
    page = admin_client.get(response["Location"]).content.decode()
    assert "Failed" in page and "creditor identifier" in page


def test_a_past_date_is_shown_on_the_form_and_no_run_is_stored(admin_client, operator):
    response = start(admin_client, operator, today_for(operator) - datetime.timedelta(days=1))
    assert response.status_code == 200
    assert "collection_date" in response.context["form"].errors
    assert not CollectionRun.objects.exists()


def test_without_a_creditor_identifier_staff_are_told_what_to_set(admin_client, operator):
    response = start(admin_client, operator, today_for(operator) + datetime.timedelta(days=1))
    assert "creditor identifier" in response.content.decode()
    assert not CollectionRun.objects.exists()


def test_staff_record_a_return_with_its_reason_and_an_unknown_id_is_a_field_error(
    admin_client, operator, invoicing_settings, customer, invoice
):
    invoicing_settings.iban = "DE02120300000000202051"
    invoicing_settings.sepa_creditor_identifier = "DE98ZZZ09999999999"
    invoicing_settings.save()
    give_mandate(customer=customer, iban="DE89370400440532013000", account_holder="Ada")
    Document.objects.filter(pk=invoice.pk).update(status=DocumentStatus.ISSUED)
    start(admin_client, operator, today_for(operator) + datetime.timedelta(days=60))
    write_collection_run(CollectionRun.objects.get().pk)

    unknown = admin_client.post(f"{RUNS}return/", {"end_to_end_id": "NOPE", "code": "AM04"})
    assert "end_to_end_id" in unknown.context["form"].errors

    response = admin_client.post(
        f"{RUNS}return/", {"end_to_end_id": invoice.display_number, "code": "AC04"}, follow=True
    )
    assert "AC04 Account closed" in response.content.decode()
    returned = PaymentTransaction.objects.get(kind=TransactionKind.DIRECT_DEBIT_RETURN)
    assert returned.provider_reference == f"{invoice.display_number}/return"
