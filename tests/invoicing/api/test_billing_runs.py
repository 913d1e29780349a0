"""Billing runs through the API: start a closed month, watch its status and errors."""

from __future__ import annotations

from datetime import UTC, datetime

from cpo_portal.kernel.periods import previous_period, today_for
from invoicing.billing.runs import bill_chunk, pending_chunk_ids
from invoicing.models import BillingRun, Document
from tests.factories import CompanyCustomerFactory
from tests.invoicing.helpers import make_priced_session

RUNS = "/api/v1/billing-runs/"


def run_queued_chunks(run_id: int) -> None:
    """What the workers do with the chunks the start request queued."""
    for chunk_id in pending_chunk_ids(BillingRun.objects.get(pk=run_id)):
        bill_chunk(chunk_id=chunk_id)


def test_a_run_is_started_for_a_closed_month_and_reports_its_progress(
    api, operator, monthly_company
):
    period = previous_period(today_for(operator))
    start = datetime(period.year, period.month, 3, 10, tzinfo=UTC)
    make_priced_session(operator, monthly_company, start=start)
    broken = CompanyCustomerFactory(operator=operator, billing_mode="monthly", vat_id="")
    make_priced_session(operator, broken, start=start)

    started = api.post(RUNS, {"period": f"{period:%Y-%m}"})

    assert started.status_code == 202, started.json()
    body = started.json()
    assert (body["period"], body["status"], body["customers_total"]) == (
        f"{period:%Y-%m}",
        "running",
        2,
    )
    run_queued_chunks(body["id"])
    done = api.get(f"{RUNS}{body['id']}/").json()
    assert (done["status"], done["documents_issued"], done["customers_failed"]) == (
        "completed_with_errors",
        1,
        1,
    )
    (error,) = api.get(f"{RUNS}{body['id']}/errors/").json()["results"]
    assert error["customer"] == broken.pk
    assert "VAT ID" in error["message"]
    assert Document.objects.filter(customer=monthly_company).count() == 1


def test_an_open_month_or_a_bad_period_is_400(api, operator):
    this_month = today_for(operator)

    open_month = api.post(RUNS, {"period": f"{this_month:%Y-%m}"})
    nonsense = api.post(RUNS, {"period": "2026-13"})
    shapeless = api.post(RUNS, {"period": "October"})

    assert open_month.status_code == 400
    assert "not over yet" in open_month.json()["period"][0]
    assert nonsense.status_code == 400
    assert shapeless.status_code == 400
    assert not BillingRun.objects.exists()


def test_runs_of_other_operators_are_invisible(api, other_api, operator):
    period = previous_period(today_for(operator))
    run = api.post(RUNS, {"period": f"{period:%Y-%m}"}).json()

    assert other_api.get(f"{RUNS}{run['id']}/").status_code == 404
    assert other_api.get(RUNS).json()["results"] == []
    assert [r["id"] for r in api.get(RUNS).json()["results"]] == [run["id"]]
