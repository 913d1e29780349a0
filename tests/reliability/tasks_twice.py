"""Figure 3: every Celery task run twice or three times in a row leaves the same ledger.

Brokers deliver at least once: a task may run again after it ran (a worker lost before its
ack, a redelivery, a Beat tick twice). For each registered task of the project
(invoicing.*, customers.*), a real worker (Redis broker, this test's database) runs it once on
a world where it has work to do; the ledger is snapshotted (documents, numbers, lines, billed
sessions, payments, PDFs, e-mail deliveries and e-mails sent, webhook events, deliveries and
requests received, export jobs, erased e-mails), then the task runs a second and a third time
with the same arguments, and the ledger must be the same after each.

Only the task under test reaches the worker: what it queues in turn (a PDF, an e-mail, a
webhook) goes to a queue nobody consumes, so the ledger shows this task's effect alone.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from celery import signals
from django.contrib.auth import get_user_model
from django.core import mail
from django.db import connection
from django.utils import timezone

from cpo_portal.celery import app
from cpo_portal.kernel.integrations import webhooks
from cpo_portal.kernel.periods import previous_period
from customers.models import Customer, MessageAttempt, OutboundMessage, Plan
from customers.notifications.outbox import notify
from invoicing.billing.runs import pending_chunk_ids, plan_billing_run
from invoicing.documents.issuing import issue_session_documents, today_for
from invoicing.models import (
    BilledSession,
    Document,
    DocumentFile,
    DocumentLine,
    EmailDelivery,
    ExportJob,
    Payment,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from invoicing.output import pdf
from invoicing.subscriptions.lifecycle import subscribe
from tests.bench.scratch import drain_queue, refresh_router
from tests.cpo_portal.kernel.api.support import make_integrator
from tests.cpo_portal.kernel.integrations.receiver import start_receiver
from tests.factories import ChargingTokenFactory, CompanyCustomerFactory, CustomerFactory
from tests.reliability.common import report

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

QUEUE = "reliability_tasks"
SINK = "reliability_tasks_not_run"
RESULTS: dict[str, dict] = {}


@pytest.fixture(scope="module", autouse=True)
def _figure():
    yield
    same = sum(1 for r in RESULTS.values() if r["same"])
    registered = sorted(project_tasks())
    missing = sorted(set(registered) - set(RESULTS))
    report(
        f"tasks run 2x and 3x: {same} of {len(registered)} tasks left the same ledger as "
        f"after their first run ({sum(r['acted'] for r in RESULTS.values())} of them had "
        "changed it on the first run)"
        + (f"; not run: {', '.join(missing)}" if missing else "")
        + (
            f"; changed: {', '.join(n for n, r in RESULTS.items() if not r['same'])}"
            if same < len(RESULTS)
            else ""
        ),
        ok=same == len(registered) and not missing,
        exit_on_bad=False,
    )


def project_tasks() -> list[str]:
    app.loader.import_default_modules()
    return [name for name in app.tasks if name.startswith(("invoicing.", "customers."))]


@pytest.fixture
def worker(transactional_db):
    """A real worker thread that consumes only QUEUE; everything else goes to SINK."""
    from celery.contrib.testing.worker import start_worker

    previous = app.conf.task_routes
    app.conf.task_routes = {"*": {"queue": SINK}}
    refresh_router()
    drain_queue(QUEUE)
    done: dict[str, str] = {}

    def finished(task_id=None, state=None, **kwargs):
        done[task_id] = state

    signals.task_postrun.connect(finished, weak=False)
    with start_worker(
        app, pool="solo", perform_ping_check=False, loglevel="WARNING", queues=[QUEUE]
    ):
        yield done
    signals.task_postrun.disconnect(finished)
    app.conf.task_routes = previous
    refresh_router()
    drain_queue(QUEUE)
    drain_queue(SINK)


def run_on_worker(done: dict, name: str, args: list) -> str:
    result = app.send_task(name, args=args, queue=QUEUE)
    deadline = time.monotonic() + 120
    while result.id not in done and time.monotonic() < deadline:
        time.sleep(0.02)
    assert result.id in done, f"{name} did not finish within 120 s"
    return done[result.id]


# --- the world every task finds -------------------------------------------------------------


@pytest.fixture
def world(operator, charge, per_session_customer, monthly_company, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    receiver = start_receiver()
    integrator = make_integrator(operator)
    WebhookEndpoint.objects.create(integrator=integrator, url=receiver.url)
    # Per-session documents: one issued long ago (overdue), one with its PDF and e-mail.
    old, recent = charge(per_session_customer, count=2)
    # Not issued yet (ingest queued its issuing to the sink): within the catch-up window.
    (pending,) = charge(per_session_customer, start=timezone.now() - timedelta(days=2))
    (overdue,) = issue_session_documents(session_ids=[old.pk], issue_date=date(2026, 10, 6))
    (issued,) = issue_session_documents(session_ids=[recent.pk])
    document_file, _rendered = pdf.store_document_pdf(document_id=issued.pk)
    # A delivery queued before the outbox took document e-mails over still goes out once.
    email = EmailDelivery.objects.create(
        document=issued,
        document_file=document_file,
        recipient=issued.recipient_email,
        language=issued.language,
    )
    # A monthly customer's closed month, planned into a run with one chunk.
    period = previous_period(today_for(operator))
    charge(
        monthly_company,
        count=2,
        start=datetime(period.year, period.month, 3, 9, tzinfo=UTC),
    )
    other = CompanyCustomerFactory(operator=operator, billing_mode="monthly")
    charge(other, start=datetime(period.year, period.month, 4, 9, tzinfo=UTC))
    run = plan_billing_run(operator=operator, period=period)
    # A subscription whose first month is over.
    plan = Plan.objects.create(
        operator=operator,
        name="Flex",
        fee=Decimal("9.90"),
        energy_price=Decimal("0.30"),
        included_kwh=Decimal("5"),
        reminder_days=3,
        suspend_after_days=7,
    )
    subscriber = CustomerFactory(operator=operator, requires_invoice=True)
    ChargingTokenFactory(customer=subscriber, uid="04REL001")
    first = today_for(operator).replace(day=1) - timedelta(days=70)
    subscribe(customer=subscriber, plan=plan, start_date=first.replace(day=1))
    # A walk-in's ad-hoc e-mail collected 40 days ago.
    charge(None, ad_hoc_email="walk-in@example.org")
    Customer.objects.filter(kind=Customer.Kind.AD_HOC).update(
        email_collected_at=timezone.now() - timedelta(days=40)
    )
    accountant = get_user_model().objects.create_superuser("accountant", password="x")
    job = ExportJob.objects.create(
        requested_by=accountant,
        what="invoices",
        format="csv",
        filters={"model": "invoicing.document", "query": ""},
    )
    # A payment notice in the outbox, queued for the worker.
    (notice,) = notify(
        event="payment_succeeded",
        customer=subscriber,
        context={"amount": "9.90", "currency": "EUR"},
        dedupe_key="reliability:notice",
    )
    events = webhooks.emit(operator=operator, event="invoice.issued", objects=[issued.pk])
    deliveries = [d.pk for e in events for d in e.deliveries.all()]
    assert deliveries, "the webhook endpoint gets a delivery"
    yield {
        "receiver": receiver,
        "args": {
            "invoicing.issue_session_documents": [[pending.pk]],
            "invoicing.bill_chunk": [pending_chunk_ids(run)[0]],
            "invoicing.render_document_pdf": [overdue.pk],
            "invoicing.queue_document_pdfs": [[overdue.pk, issued.pk]],
            "invoicing.send_document_email": [email.pk],
            "customers.send_outbound_message": [notice.pk],
            "customers.send_outbound_messages": [[notice.pk]],
            "invoicing.run_export_job": [job.pk],
            "invoicing.deliver_webhook": [deliveries[0]],
            "invoicing.queue_webhook_deliveries": [deliveries],
        },
    }
    receiver.server.shutdown()
    receiver.server.server_close()


def ledger(receiver) -> dict:
    """Everything a task run twice could have doubled or changed."""
    documents = Document.objects.order_by("pk")
    return {
        "documents": list(
            documents.values_list(
                "pk", "kind", "status", "number", "display_number", "total_gross", "amount_paid"
            )
        ),
        "lines": list(DocumentLine.objects.order_by("pk").values_list("pk", "document", "net")),
        "billed sessions": list(
            BilledSession.objects.order_by("pk").values_list("session", "document", "is_reversed")
        ),
        "payments": list(Payment.objects.order_by("pk").values_list("pk", "document", "amount")),
        "pdfs": list(DocumentFile.objects.order_by("pk").values_list("pk", "document", "revision")),
        "e-mail deliveries": list(
            EmailDelivery.objects.order_by("pk").values_list("pk", "document", "status", "attempts")
        ),
        "e-mails sent": len(mail.outbox),
        "outbox": list(
            OutboundMessage.objects.order_by("pk").values_list(
                "pk", "status", "attempt_count", "body_text"
            )
        ),
        "send attempts": MessageAttempt.objects.count(),
        "webhook events": list(WebhookEvent.objects.order_by("pk").values_list("pk", "type")),
        "webhook deliveries": list(
            WebhookDelivery.objects.order_by("pk").values_list("pk", "status", "attempts")
        ),
        "webhook requests received": len(receiver.received),
        "export jobs": list(ExportJob.objects.order_by("pk").values_list("pk", "status", "file")),
        "ad-hoc e-mails": list(
            Customer.objects.filter(kind=Customer.Kind.AD_HOC).values_list("pk", "email")
        ),
    }


@pytest.mark.parametrize("name", sorted(project_tasks()))
def test_a_task_run_again_changes_nothing(name, worker, world):
    args = world["args"].get(name, [])
    receiver = world["receiver"]
    before = ledger(receiver)

    states = [run_on_worker(worker, name, args)]
    once = ledger(receiver)
    states.append(run_on_worker(worker, name, args))
    twice = ledger(receiver)
    states.append(run_on_worker(worker, name, args))
    thrice = ledger(receiver)

    changed = sorted(k for k in once if not (once[k] == twice[k] == thrice[k]))
    acted = sorted(k for k in once if once[k] != before[k])
    RESULTS[name] = {"same": not changed, "acted": bool(acted)}
    print(f"\n{name}: states {states}; first run changed {acted or 'nothing'}", flush=True)
    assert not changed, f"{name} run again changed {changed}"
    assert connection.vendor == "postgresql"
