"""The invoicing admin: billing runs, their failed customers, starting a run."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from django.urls import reverse

from cpo_portal.kernel.periods import previous_period, today_for
from customers.models import Customer
from invoicing import tasks
from invoicing.billing.runs import run_billing
from invoicing.documents.issuing import issue_session_documents
from invoicing.models import (
    BillingRun,
    Document,
)
from sessions.models import ChargingSession
from tests.factories import CustomerFactory, OperatorFactory
from tests.invoicing.admin.helpers import messages_of, run_url
from tests.invoicing.helpers import make_priced_session

pytestmark = pytest.mark.django_db


# --- billing runs --------------------------------------------------------------------------


def in_month(period: date) -> datetime:
    """A moment well inside the month, whatever the operator's time zone."""
    return datetime(period.year, period.month, 2, 10, tzinfo=UTC)


@pytest.fixture
def failed_run(operator):
    """Last month's run: one monthly customer billed, one without e-mail not billed."""
    period = previous_period(today_for(operator))
    good = CustomerFactory(operator=operator, requires_invoice=True, name="Good Driver")
    bad = CustomerFactory(operator=operator, requires_invoice=True, name="No Mail", email="")
    for customer in (good, bad):
        make_priced_session(operator, customer, start=in_month(period))
    run = run_billing(operator=operator, period=period)
    assert run.status == BillingRun.Status.COMPLETED_WITH_ERRORS
    return run


def test_billing_run_list_shows_counts_and_progress(admin_client, failed_run):
    response = admin_client.get(reverse("admin:invoicing_billingrun_changelist"))

    assert response.status_code == 200
    (row,) = response.context["cl"].result_list
    assert row == failed_run
    text = response.text
    assert f"{failed_run.period:%Y-%m}" in text
    assert '<td class="field-customers_total">2</td>' in text
    assert '<td class="field-customers_billed">1</td>' in text
    assert '<td class="field-customers_failed">1</td>' in text
    assert '<td class="field-documents_issued">1</td>' in text
    assert '<td class="field-chunks">1/1</td>' in text
    assert "Completed with errors" in text
    assert reverse("admin:invoicing_billingrun_start") in text
    assert 'href="/admin/invoicing/billingrun/add/"' not in text


def test_billing_run_page_shows_the_failed_customers_and_why(admin_client, failed_run):
    response = admin_client.get(run_url(failed_run))

    assert response.status_code == 200
    text = response.text
    assert "No Mail" in text
    assert "The e-mail is required for individual customers." in text
    assert 'name="_save"' not in text
    assert run_url(failed_run, "rebill") in text
    documents = reverse("admin:invoicing_document_changelist")
    listed = admin_client.get(documents, {"billing_run__id__exact": failed_run.pk})
    assert [d.recipient_name for d in listed.context["cl"].result_list] == ["Good Driver"]


def test_rebill_action_bills_the_fixed_customer_and_completes_the_run(admin_client, failed_run):
    Customer.objects.filter(name="No Mail").update(email="no.mail@example.org")

    response = admin_client.post(
        reverse("admin:invoicing_billingrun_changelist"),
        {"action": "rebill_failed_customers", "_selected_action": [failed_run.pk]},
        follow=True,
    )

    assert messages_of(response) == [
        f"{failed_run}: billed 1 of 1 failed customers again (1 document issued)."
    ]
    failed_run.refresh_from_db()
    assert failed_run.status == BillingRun.Status.COMPLETED
    assert (failed_run.customers_billed, failed_run.customers_failed) == (2, 0)
    assert failed_run.documents_issued == 2
    assert not failed_run.errors.exists()
    document = Document.objects.get(customer__name="No Mail")
    assert document.billing_run == failed_run


def test_rebill_of_a_customer_still_missing_details_keeps_the_error(admin_client, failed_run):
    response = admin_client.post(run_url(failed_run, "rebill"), follow=True)

    assert response.redirect_chain[-1][0] == run_url(failed_run)
    (message,) = messages_of(response)
    assert message.startswith(f"{failed_run}: 1 customer still not billed (No Mail: ")
    assert "e-mail is required" in message
    failed_run.refresh_from_db()
    assert failed_run.status == BillingRun.Status.COMPLETED_WITH_ERRORS
    assert failed_run.errors.count() == 1
    assert Document.objects.count() == 1


def test_a_second_attempt_shows_its_own_counts_not_the_first_attempts_documents(
    admin_client, operator, failed_run
):
    again = run_billing(operator=operator, period=failed_run.period)  # "No Mail" fails again

    text = " ".join(admin_client.get(run_url(again)).text.split())

    assert (again.attempts, again.customers_total, again.customers_billed) == (2, 1, 0)
    assert (again.customers_failed, again.documents_issued, again.sessions_billed) == (1, 0, 0)
    assert "Latest attempt" in text and "All attempts" in text
    documents = reverse("admin:invoicing_document_changelist")
    assert f'<a href="{documents}?billing_run__id__exact={again.pk}">1</a>' in text


def test_nothing_left_to_bill_is_said_only_when_no_session_of_the_month_is_unbilled(
    admin_client, operator
):
    period = previous_period(today_for(operator))
    month = f"{period:%Y-%m}"
    start = reverse("admin:invoicing_billingrun_start")
    payload = {"operator": operator.pk, "period": month}
    per_session = CustomerFactory(
        operator=operator, requires_invoice=True, billing_mode="per_session"
    )
    make_priced_session(operator, per_session, start=in_month(period))

    (waiting,) = messages_of(admin_client.post(start, payload, follow=True))
    issue_session_documents(
        session_ids=list(ChargingSession.objects.values_list("pk", flat=True)),
        issue_date=today_for(operator),
    )
    (done,) = messages_of(admin_client.post(start, payload, follow=True))

    run = BillingRun.objects.get()
    assert "nothing left to bill" not in waiting
    assert waiting == (
        f"{run}: no customer billed monthly has sessions to bill; 1 session of the month is "
        "still unbilled (a customer billed per session or on hold)."
    )
    assert done == f"{run}: nothing left to bill."


def test_rebill_button_wants_a_post(admin_client, failed_run):
    assert admin_client.get(run_url(failed_run, "rebill")).status_code == 405


def test_view_only_staff_cannot_rebill(viewer_client, failed_run):
    page = viewer_client.get(run_url(failed_run))

    assert page.status_code == 200
    assert run_url(failed_run, "rebill") not in page.text
    assert viewer_client.post(run_url(failed_run, "rebill")).status_code == 403
    assert viewer_client.get(reverse("admin:invoicing_billingrun_start")).status_code == 403


def test_billing_runs_cannot_be_added_or_deleted(admin_client, failed_run):
    assert admin_client.get(reverse("admin:invoicing_billingrun_add")).status_code == 403
    deleted = admin_client.post(run_url(failed_run, "delete"), {"post": "yes"})
    assert deleted.status_code == 403


@pytest.fixture
def eager_celery(monkeypatch):
    """Queued chunks are billed at once, in this process."""
    from cpo_portal.celery import app

    monkeypatch.setattr(app.conf, "task_always_eager", True)


def test_start_form_proposes_the_month_that_just_closed(admin_client, operator):
    response = admin_client.get(reverse("admin:invoicing_billingrun_start"))

    assert response.status_code == 200
    form = response.context["form"]
    assert form["operator"].value() == operator.pk
    assert form["period"].value() == f"{previous_period(today_for(operator)):%Y-%m}"


def test_starting_a_billing_run_queues_and_bills_the_month(admin_client, operator, eager_celery):
    period = previous_period(today_for(operator))
    customer = CustomerFactory(operator=operator, requires_invoice=True)
    make_priced_session(operator, customer, start=in_month(period))

    response = admin_client.post(
        reverse("admin:invoicing_billingrun_start"),
        {"operator": operator.pk, "period": f"{period:%Y-%m}"},
        follow=True,
    )

    run = BillingRun.objects.get()
    assert response.redirect_chain[-1][0] == run_url(run)
    assert messages_of(response) == [
        f"{run} started: 1 customer in 1 chunk, queued for the workers."
    ]
    run.refresh_from_db()
    assert run.status == BillingRun.Status.COMPLETED
    assert Document.objects.get().customer == customer


@pytest.mark.parametrize(
    ("period", "words"),
    [("2026-13", "“2026-13” is not a month"), ("soon", "write it as YYYY-MM")],
)
def test_starting_a_run_for_a_bad_month_says_why(admin_client, operator, period, words):
    response = admin_client.post(
        reverse("admin:invoicing_billingrun_start"), {"operator": operator.pk, "period": period}
    )

    assert response.status_code == 200
    (message,) = messages_of(response)
    assert words in message
    assert not BillingRun.objects.exists()


def test_the_current_month_cannot_be_billed_yet(admin_client, operator):
    month = f"{today_for(operator):%Y-%m}"

    response = admin_client.post(
        reverse("admin:invoicing_billingrun_start"), {"operator": operator.pk, "period": month}
    )

    assert messages_of(response) == [f"{month} is not over yet; only closed months are billed."]
    assert not BillingRun.objects.exists()


def test_a_queue_outage_is_an_error_message_not_a_server_error(admin_client, operator, monkeypatch):
    from kombu.exceptions import OperationalError

    def broker_down(*args, **kwargs):
        raise OperationalError("Connection refused")

    customer = CustomerFactory(operator=operator, requires_invoice=True)
    period = previous_period(today_for(operator))
    make_priced_session(operator, customer, start=in_month(period))
    monkeypatch.setattr(tasks.bill_chunk, "delay", broker_down)

    response = admin_client.post(
        reverse("admin:invoicing_billingrun_start"),
        {"operator": operator.pk, "period": f"{period:%Y-%m}"},
    )

    assert response.status_code == 200
    (message,) = messages_of(response)
    assert "could not be handed to the workers (Connection refused)" in message


def test_an_operator_without_settings_cannot_be_chosen(admin_client, operator):
    bare = OperatorFactory(name="Bare", invoicing_settings=None)

    response = admin_client.post(
        reverse("admin:invoicing_billingrun_start"), {"operator": bare.pk, "period": "2020-01"}
    )

    assert response.status_code == 200
    assert "operator" in response.context["form"].errors
    assert not BillingRun.objects.exists()
