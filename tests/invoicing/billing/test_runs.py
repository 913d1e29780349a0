"""Monthly runs: each monthly customer once per closed month, resumable, errors per customer."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django_celery_beat.models import PeriodicTask

from cpo_portal.kernel.money import round_money
from invoicing.billing.runs import (
    bill_chunk,
    pending_chunk_ids,
    plan_billing_run,
    queue_billing_run,
    rebill_customer,
    rebill_failed_customers,
    run_billing,
)
from invoicing.documents.composition import InvoicingError
from invoicing.documents.issuing import issue_session_documents
from invoicing.models import (
    BilledSession,
    BillingRun,
    Document,
    DocumentKind,
    InvoicingSettings,
    TaxRule,
)
from tests.factories import CompanyCustomerFactory, CustomerFactory

pytestmark = pytest.mark.django_db
OCTOBER = date(2026, 10, 1)
ROOT = Path(__file__).resolve().parents[3]


def billed_once(sessions) -> bool:
    counts = [BilledSession.objects.filter(session=s).count() for s in sessions]
    return counts == [1] * len(sessions)


def test_the_monthly_run_puts_each_customers_month_on_one_invoice(
    charge, monthly_company, operator
):
    october = charge(monthly_company, count=3)
    november = charge(monthly_company, start=datetime(2026, 11, 2, 9, tzinfo=UTC))
    other = CompanyCustomerFactory(operator=operator, billing_mode="monthly")
    charge(other, count=2, energy="20.000")

    run = run_billing(operator=operator, period=OCTOBER)

    assert run.status == BillingRun.Status.COMPLETED
    assert (run.customers_total, run.customers_billed, run.documents_issued) == (2, 2, 2)
    assert run.sessions_billed == 5
    invoice = Document.objects.get(customer=monthly_company)
    assert (invoice.kind, invoice.origin, invoice.billing_run) == ("invoice", "monthly", run)
    assert (invoice.period_start, invoice.period_end) == (date(2026, 10, 1), date(2026, 10, 31))
    assert invoice.session_count == 3
    assert [(line.service, line.quantity, line.net) for line in invoice.lines.all()] == [
        ("energy", Decimal("30.000"), Decimal("12.00")),
        ("parking_time", Decimal("15.000"), Decimal("1.50")),
        ("connection_fee", Decimal("3.000"), Decimal("3.00")),
    ]
    assert all(line.session_id is None for line in invoice.lines.all())
    assert sorted(invoice.billed_sessions.values_list("session_id", flat=True)) == [
        s.pk for s in october
    ]
    assert invoice.total_net == Decimal("16.50")
    assert invoice.total_vat == round_money(Decimal("16.50") * Decimal("0.19"))
    assert not BilledSession.objects.filter(session__in=november).exists()


def test_vat_is_computed_per_rate_on_the_net_sum_and_adds_up_to_the_total(
    charge, monthly_company, invoicing_settings, operator
):
    TaxRule.objects.create(
        country="DE", category="electricity", valid_from=date(2026, 1, 1), rate=Decimal("7.00")
    )
    # 7 sessions of 0.333 kWh at 0.40 = 0.1332 -> 0.13 net each: VAT per session would round
    # 0.0091 up and down; on the summed net the document gets 7 % of 0.91.
    charge(monthly_company, count=7, energy="0.333", idle=1)

    run_billing(operator=operator, period=OCTOBER)

    invoice = Document.objects.get()
    by_rate = {row["rate"]: row for row in invoice.vat_summary}
    assert set(by_rate) == {"7.00", "19.00"}
    for rate, row in by_rate.items():
        assert Decimal(row["vat"]) == round_money(Decimal(row["net"]) * Decimal(rate) / 100)
        assert Decimal(row["gross"]) == Decimal(row["net"]) + Decimal(row["vat"])
    assert sum(Decimal(r["net"]) for r in invoice.vat_summary) == invoice.total_net
    assert sum(Decimal(r["vat"]) for r in invoice.vat_summary) == invoice.total_vat
    assert invoice.total_gross == invoice.total_net + invoice.total_vat
    assert by_rate["7.00"]["net"] == "0.91"


def test_running_the_same_period_again_bills_nothing_twice(charge, monthly_company, operator):
    sessions = charge(monthly_company, count=2)
    first = run_billing(operator=operator, period=OCTOBER)

    again = run_billing(operator=operator, period=OCTOBER)

    assert again.pk == first.pk
    assert again.attempts == 2
    assert again.status == BillingRun.Status.COMPLETED
    # The counters are the second attempt's: it found nothing to bill.
    assert (again.customers_total, again.documents_issued, again.sessions_billed) == (0, 0, 0)
    assert again.documents.count() == Document.objects.count() == 1
    assert billed_once(sessions)


def test_a_late_session_is_billed_by_the_next_run_of_the_period(charge, monthly_company, operator):
    charge(monthly_company)
    run_billing(operator=operator, period=OCTOBER)
    late = charge(monthly_company, start=datetime(2026, 10, 30, 9, tzinfo=UTC))

    run = run_billing(operator=operator, period=OCTOBER)

    assert (run.customers_total, run.documents_issued, run.sessions_billed) == (1, 1, 1)
    assert run.documents.count() == 2
    assert billed_once(late)


def test_a_run_interrupted_part_way_bills_each_session_exactly_once(charge, operator):
    customers = [
        CompanyCustomerFactory(operator=operator, billing_mode="monthly") for _ in range(5)
    ]
    sessions = [s for c in customers for s in charge(c, count=2)]
    run = plan_billing_run(operator=operator, period=OCTOBER, chunk_customers=2)
    first, second, *_rest = pending_chunk_ids(run)
    bill_chunk(chunk_id=first)
    # The worker dies in the middle of the second chunk: its transaction never commits.
    with pytest.raises(SystemExit), transaction.atomic():
        bill_chunk(chunk_id=second)
        raise SystemExit("worker killed")
    assert Document.objects.count() == 2

    resumed = run_billing(operator=operator, period=OCTOBER)

    assert resumed.status == BillingRun.Status.COMPLETED
    assert (resumed.customers_total, resumed.customers_billed) == (3, 3)
    assert (resumed.documents_issued, resumed.sessions_billed) == (3, 6)
    assert resumed.documents.count() == 5
    assert billed_once(sessions)
    numbers = sorted(Document.objects.values_list("number", flat=True))
    assert numbers == [1, 2, 3, 4, 5]


def test_one_customers_bad_data_fails_that_customer_not_the_run(charge, operator):
    good = CompanyCustomerFactory(operator=operator, billing_mode="monthly")
    bad = CompanyCustomerFactory(
        operator=operator, billing_mode="monthly", vat_id="", company_name="No VAT Ltd"
    )
    charge(good)
    (unbilled,) = charge(bad)

    run = run_billing(operator=operator, period=OCTOBER)

    assert run.status == BillingRun.Status.COMPLETED_WITH_ERRORS
    assert (run.customers_billed, run.customers_failed, run.documents_issued) == (1, 1, 1)
    (error,) = run.errors.all()
    assert error.customer == bad
    assert "VAT ID is required" in error.message
    assert not BilledSession.objects.filter(session=unbilled).exists()

    bad.vat_id = "DE811907980"
    bad.save()
    rebill_customer(run=run, customer=bad)

    run.refresh_from_db()
    assert run.status == BillingRun.Status.COMPLETED
    assert (run.customers_failed, run.documents_issued) == (0, 2)
    assert billed_once([unbilled])


def test_rebilling_a_runs_failed_customers_bills_the_fixed_and_names_the_others(charge, operator):
    fixed = CompanyCustomerFactory(
        operator=operator, billing_mode="monthly", vat_id="", company_name="Fixed Ltd"
    )
    still_bad = CompanyCustomerFactory(
        operator=operator, billing_mode="monthly", vat_id="", company_name="Still Bad Ltd"
    )
    charge(fixed)
    charge(still_bad)
    run = run_billing(operator=operator, period=OCTOBER)
    assert run.customers_failed == 2
    fixed.vat_id = "DE811907980"
    fixed.save()

    result = rebill_failed_customers(run=run)

    assert (result.tried, result.customers_billed, result.documents) == (2, 1, 1)
    assert list(result.failures) == [str(still_bad)]
    assert "VAT ID is required" in result.failures[str(still_bad)]
    run.refresh_from_db()
    assert (run.status, run.customers_failed) == (BillingRun.Status.COMPLETED_WITH_ERRORS, 1)
    assert rebill_failed_customers(run=run).customers_billed == 0


def test_the_run_bills_only_monthly_customers_who_get_documents(
    charge, operator, invoicing_settings, per_session_customer
):
    invoicing_settings.issuing_schedule = InvoicingSettings.IssuingSchedule.MONTHLY
    invoicing_settings.save()
    on_default = CustomerFactory(operator=operator, requires_invoice=True)
    no_invoice = CustomerFactory(operator=operator, requires_invoice=False)
    for customer in (on_default, no_invoice, per_session_customer):
        charge(customer)
    walk_in = charge(None)

    run_billing(operator=operator, period=OCTOBER)

    assert [d.customer for d in Document.objects.all()] == [on_default]
    assert not BilledSession.objects.filter(session__in=walk_in).exists()

    invoicing_settings.always_issue = True
    invoicing_settings.save()
    run_billing(operator=operator, period=OCTOBER)
    # Stored without a document, the session stays so; one stored after the switch is billed.
    assert not Document.objects.filter(customer=no_invoice).exists()
    charge(no_invoice)
    run_billing(operator=operator, period=OCTOBER)
    receipt = Document.objects.get(customer=no_invoice)
    assert receipt.kind == DocumentKind.SALES_RECEIPT


def test_collect_only_runs_bill_nothing(charge, monthly_company, operator, invoicing_settings):
    invoicing_settings.issuing_schedule = InvoicingSettings.IssuingSchedule.COLLECT_ONLY
    invoicing_settings.save()
    charge(monthly_company)

    run = run_billing(operator=operator, period=OCTOBER)

    assert run.status == BillingRun.Status.COMPLETED
    assert not Document.objects.exists()


def test_a_session_billed_per_session_is_not_billed_again_by_the_monthly_run(
    charge, operator, per_session_customer
):
    (session,) = charge(per_session_customer)
    issue_session_documents(session_ids=[session.pk])
    per_session_customer.billing_mode = "monthly"
    per_session_customer.save()
    (later,) = charge(per_session_customer, start=datetime(2026, 10, 20, 9, tzinfo=UTC))

    run_billing(operator=operator, period=OCTOBER)

    assert billed_once([session, later])
    assert Document.objects.count() == 2


def test_only_closed_months_are_billed(operator):
    with pytest.raises(InvoicingError, match="is not over yet"):
        plan_billing_run(operator=operator, period=date(2999, 1, 1))


def test_a_past_months_run_can_be_dated_the_day_it_would_have_run(
    charge, monthly_company, operator
):
    charge(monthly_company, count=2)

    with pytest.raises(InvoicingError, match="before the month is over"):
        run_billing(operator=operator, period=OCTOBER, issue_date=date(2026, 10, 31))
    run_billing(operator=operator, period=OCTOBER, issue_date=date(2026, 11, 1))

    invoice = Document.objects.get(customer=monthly_company)
    assert invoice.issue_date == date(2026, 11, 1)
    assert invoice.due_date > date(2026, 11, 1)


def test_run_billing_command_reports_the_run(charge, monthly_company, operator):
    charge(monthly_company, count=2)
    out = StringIO()

    call_command("run_billing", period="2026-10", stdout=out, stderr=StringIO())

    assert "Billing run 2026-10 (VoltWay): completed" in out.getvalue()
    assert (
        "attempt 1: 1 customers to bill, 1 billed, 0 failed, 1 documents, 2 sessions "
        "(1 documents in all attempts)" in out.getvalue()
    )


@pytest.mark.parametrize(
    ("period", "message"),
    [("October", "“October” is not a month; write it as YYYY-MM"), ("2999-01", "not over yet")],
)
def test_run_billing_command_refuses_bad_periods_with_a_sentence(operator, period, message):
    with pytest.raises(CommandError, match=message):
        call_command("run_billing", period=period, stdout=StringIO(), stderr=StringIO())


def test_run_billing_command_fails_when_customers_failed(charge, operator):
    charge(CompanyCustomerFactory(operator=operator, billing_mode="monthly", vat_id=""))
    out = StringIO()

    with pytest.raises(CommandError, match="Some customers were not billed"):
        call_command("run_billing", period="2026-10", stdout=out, stderr=StringIO())
    assert "VAT ID is required" in out.getvalue()


def test_the_monthly_run_is_registered_with_beat_on_the_first_of_the_month():
    task = PeriodicTask.objects.get(task="invoicing.run_monthly_billing")

    assert (task.crontab.day_of_month, task.crontab.hour, task.enabled) == ("1", "3", True)
    assert PeriodicTask.objects.filter(task="invoicing.mark_overdue_documents").exists()


@pytest.mark.django_db(transaction=True)
def test_a_queued_run_is_billed_by_the_workers(
    celery_worker_thread, charge, operator, monthly_company
):
    other = CompanyCustomerFactory(operator=operator, billing_mode="monthly")
    sessions = charge(monthly_company, count=2) + charge(other)

    run = queue_billing_run(operator=operator, period=OCTOBER, chunk_customers=1)
    assert run.chunks_total == 2
    deadline = time.monotonic() + 30
    while run.status == BillingRun.Status.RUNNING and time.monotonic() < deadline:
        time.sleep(0.1)
        run.refresh_from_db()

    assert run.status == BillingRun.Status.COMPLETED
    assert (run.chunks_done, run.documents_issued, run.sessions_billed) == (2, 2, 3)
    assert billed_once(sessions)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_billing_process_killed_part_way_and_run_again_bills_each_session_once(charge, operator):
    customers = [
        CompanyCustomerFactory(operator=operator, billing_mode="monthly") for _ in range(60)
    ]
    sessions = [s for c in customers for s in charge(c, count=2)]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "CPO_TEST_DATABASE_NAME": connection.settings_dict["NAME"],
    }
    command = [sys.executable, "-c", KILLABLE_RUN]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    run = None
    while time.monotonic() < deadline:
        run = BillingRun.objects.filter(operator=operator).first()
        if run and run.chunks_done >= 3:
            break
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    run.refresh_from_db()
    assert 3 <= run.chunks_done < run.chunks_total, "the process was not killed part-way"
    assert run.status == BillingRun.Status.RUNNING
    before = Document.objects.count()

    resumed = run_billing(operator=operator, period=OCTOBER)

    assert resumed.status == BillingRun.Status.COMPLETED
    assert resumed.documents_issued == resumed.customers_total == 60 - before
    assert resumed.sessions_billed == 2 * (60 - before)
    assert resumed.documents.count() == 60
    assert billed_once(sessions)
    assert sorted(Document.objects.values_list("number", flat=True)) == list(range(1, 61))


# Bills October one customer per transaction, in a separate process, against the test database.
KILLABLE_RUN = """
import os, django
django.setup()
from django.db import connection
connection.settings_dict["NAME"] = os.environ["CPO_TEST_DATABASE_NAME"]
from datetime import date
from invoicing.billing.runs import run_billing
from invoicing.models import Operator
run_billing(operator=Operator.objects.get(), period=date(2026, 10, 1), chunk_customers=1)
"""
