"""Exports in the admin: buttons and actions follow the list's filters, large exports become
jobs, and each back-office role may do what docs/exports.md says (and no more)."""

from __future__ import annotations

import csv
import importlib
import io
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.apps import apps
from django.contrib.auth.models import Group, Permission
from django.db.models import Sum
from django.urls import reverse
from kombu.exceptions import OperationalError as BrokerError
from openpyxl import load_workbook

from cpo_portal.kernel.exports.tasks import run_export_job
from cpo_portal.kernel.periods import today_for
from customers.models import Customer
from invoicing.documents.issuing import issue_credit_note, issue_session_documents
from invoicing.documents.selectors import billed
from invoicing.models import Document, DocumentKind, ExportJob
from sessions.models import ChargingSession
from tests.factories import CustomerFactory
from tests.invoicing.helpers import make_priced_session

pytestmark = pytest.mark.django_db

DOCUMENTS = reverse("admin:invoicing_document_changelist")
SESSIONS = reverse("admin:charging_chargingsession_changelist")
CUSTOMERS = reverse("admin:customers_customer_changelist")
JOBS = reverse("admin:invoicing_exportjob_changelist")
ROLES_MIGRATION = importlib.import_module("invoicing.migrations.0011_integrator_roles")


def export_url(changelist: str, what: str, fmt: str, query: str = "") -> str:
    url = f"{changelist}export/{what}/{fmt}/"
    return f"{url}?{query}" if query else url


def content_of(response) -> bytes:
    """A streamed download's bytes; the test client closes the response (and its file)."""
    # Closing it again would send request_finished and close the test's database connection.
    return b"".join(response.streaming_content)


def status_of(response) -> int:
    if response.streaming:
        content_of(response)
    return response.status_code


def csv_rows(response) -> list[dict[str, str]]:
    content = content_of(response).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(content, newline="")))


def xlsx_rows(response) -> list[dict]:
    content = content_of(response)
    sheet = load_workbook(io.BytesIO(content)).active
    rows = list(sheet.iter_rows(values_only=True))
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def issue_on(customer, day, energy_kwh="10.5") -> Document:
    """A per-session invoice issued on `day` (5.00 gross for the default 10.5 kWh)."""
    session = make_priced_session(customer.operator, customer, energy_kwh=energy_kwh)
    (document,) = issue_session_documents(session_ids=[session.pk], issue_date=day)
    return document


@pytest.fixture
def roles(db):
    """The role groups as the migration makes them (running it again changes nothing)."""
    ROLES_MIGRATION.create_roles(apps, None)
    return {group.name: group for group in Group.objects.all()}


@pytest.fixture
def staff(roles, django_user_model):
    def make(role: str | None, username: str | None = None):
        user = django_user_model.objects.create_user(
            username or (role or "nobody").lower().replace(" ", "_"), password="pw", is_staff=True
        )
        if role:
            user.groups.add(roles[role])
        return user

    return make


@pytest.fixture
def login(client, staff):
    def log_in(role: str | None):
        user = staff(role)
        client.force_login(user)
        return user

    return log_in


@pytest.fixture
def customer(operator):
    return CustomerFactory(operator=operator, requires_invoice=True, billing_mode="per_session")


@pytest.fixture
def months(operator, customer):
    """Two invoices this month and one last month, plus a credit note of one of this month's."""
    today = today_for(operator)
    last_month = today.replace(day=1) - timedelta(days=1)
    this_month = [issue_on(customer, today), issue_on(customer, today, energy_kwh="20.25")]
    earlier = issue_on(customer, last_month)
    issue_credit_note(document=this_month[0], reason="Wrong tariff", issue_date=today)
    month_start = today.replace(day=1)
    query = f"issue_date__gte={month_start}&issue_date__lt={next_month(month_start)}"
    return {"query": query, "start": month_start, "earlier": earlier}


def next_month(first):
    return (first + timedelta(days=32)).replace(day=1)


# --- buttons: the filtered list ----------------------------------------------------------------


def test_the_xlsx_button_exports_the_filtered_month_with_totals_of_the_database(
    admin_client, months
):
    response = admin_client.post(export_url(DOCUMENTS, "invoices", "xlsx", months["query"]))

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    assert 'attachment; filename="invoices-' in response["Content-Disposition"]
    rows = xlsx_rows(response)
    in_month = Document.objects.filter(issue_date__gte=months["start"])
    assert len(rows) == in_month.count() == 3
    assert months["earlier"].display_number not in {row["number"] for row in rows}
    total = sum(Decimal(str(row["total_gross"])) for row in rows)
    # 5.00 + 9.64 - 5.00 (the credit note): negative amounts are numbers too.
    assert total == in_month.aggregate(total=Sum("total_gross"))["total"] == Decimal("9.64")


def test_the_csv_button_honours_the_kind_filter_and_the_search(admin_client, months):
    response = admin_client.post(export_url(DOCUMENTS, "invoices", "csv", "kind__exact=invoice"))
    assert {row["kind"] for row in csv_rows(response)} == {"invoice"}

    credit_note = Document.objects.get(kind=DocumentKind.CREDIT_NOTE)
    response = admin_client.post(export_url(DOCUMENTS, "invoices", "csv", "q=CN-"))
    assert [row["number"] for row in csv_rows(response)] == [credit_note.display_number]


def test_the_lines_button_exports_the_lines_of_the_listed_documents(admin_client, months):
    response = admin_client.post(export_url(DOCUMENTS, "lines", "csv", months["query"]))

    rows = csv_rows(response)
    assert {row["issue_date"] for row in rows} == {str(today_for(months["earlier"].operator))}
    assert all(row["session_id"] and row["component"] == "energy" for row in rows)


def test_sessions_and_customers_lists_export_what_their_filters_show(admin_client, months):
    other = CustomerFactory(operator=months["earlier"].operator, country="FR")

    response = admin_client.post(export_url(CUSTOMERS, "customers", "csv", "country=FR"))
    assert [row["customer_id"] for row in csv_rows(response)] == [str(other.pk)]

    response = admin_client.post(export_url(SESSIONS, "sessions", "xlsx", "invoiced=yes"))
    rows = xlsx_rows(response)
    assert {row["session_id"] for row in rows} == set(
        billed(ChargingSession.objects.all()).values_list("pk", flat=True)
    )


def test_the_list_shows_export_buttons_that_keep_its_filters(admin_client, months):
    response = admin_client.get(f"{DOCUMENTS}?kind__exact=invoice")

    assert response.status_code == 200
    assert "Export documents (XLSX)" in response.text
    assert 'action="/admin/invoicing/document/export/lines/csv/?kind__exact=invoice"' in (
        response.text
    )


def test_an_export_is_a_post_and_unknown_exports_are_not_found(admin_client):
    assert admin_client.get(export_url(DOCUMENTS, "invoices", "csv")).status_code == 405
    assert admin_client.post(export_url(DOCUMENTS, "customers", "csv")).status_code == 404
    assert admin_client.post(export_url(DOCUMENTS, "invoices", "pdf")).status_code == 404


def test_invalid_filters_give_a_message_not_an_error(admin_client):
    response = admin_client.post(
        export_url(DOCUMENTS, "invoices", "csv", "no_such_field=1"), follow=True
    )

    assert response.status_code == 200
    assert "The list's filters are not valid; nothing exported." in messages_of(response)


# --- actions: the selected rows ----------------------------------------------------------------


def test_the_action_exports_only_the_selected_documents(admin_client, months):
    chosen = Document.objects.filter(kind=DocumentKind.INVOICE).order_by("pk")[:2]

    response = admin_client.post(
        DOCUMENTS,
        {"action": "export_invoices_csv", "_selected_action": [d.pk for d in chosen]},
    )

    assert response.status_code == 200
    assert sorted(row["number"] for row in csv_rows(response)) == sorted(
        d.display_number for d in chosen
    )


def test_select_all_exports_the_whole_filtered_list(admin_client, months):
    first = Document.objects.filter(issue_date__gte=months["start"]).first()

    response = admin_client.post(
        f"{DOCUMENTS}?{months['query']}",
        {"action": "export_lines_xlsx", "_selected_action": [first.pk], "select_across": "1"},
    )

    rows = xlsx_rows(response)
    assert {row["document_id"] for row in rows} == set(
        Document.objects.filter(issue_date__gte=months["start"]).values_list("pk", flat=True)
    )


# --- large exports become jobs -----------------------------------------------------------------


def test_a_large_export_becomes_a_job_that_writes_the_filtered_rows(
    client, login, months, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.EXPORT_STREAM_MAX_ROWS = 1
    settings.MEDIA_ROOT = tmp_path
    accountant = login("Accountant")

    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(
            export_url(DOCUMENTS, "invoices", "xlsx", months["query"]), follow=True
        )

    (job,) = ExportJob.objects.all()
    assert response.redirect_chain[-1][0] == f"{DOCUMENTS}?{months['query']}"
    (message,) = messages_of(response)
    assert "more than 1 rows, so a worker writes it" in message
    assert reverse("admin:invoicing_exportjob_change", args=[job.pk]) in message
    assert (job.requested_by, job.what, job.format) == (accountant, "invoices", "xlsx")
    assert job.filters == {
        "model": "invoicing.document",
        "query": months["query"],
        "selected": None,
    }
    assert len(callbacks) == 1  # the task is queued once the job is committed
    job_page = reverse("admin:invoicing_exportjob_change", args=[job.pk])
    assert '<meta http-equiv="refresh"' in client.get(job_page).text  # follows the worker

    run_export_job(job.pk)  # what the worker runs

    job.refresh_from_db()
    assert job.status == ExportJob.Status.DONE, job.error
    assert job.rows_written == job.rows_total == 3
    assert '<meta http-equiv="refresh"' not in client.get(job_page).text
    listing = client.get(JOBS)
    download = reverse("admin:invoicing_exportjob_download", args=[job.pk])
    assert download in listing.text
    rows = xlsx_rows(client.get(download))
    in_month = Document.objects.filter(issue_date__gte=months["start"])
    assert (
        sum(Decimal(str(r["total_gross"])) for r in rows)
        == in_month.aggregate(total=Sum("total_gross"))["total"]
    )


def test_a_selection_is_remembered_by_id_in_the_job(
    admin_client, months, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.EXPORT_STREAM_MAX_ROWS = 0
    settings.MEDIA_ROOT = tmp_path
    chosen = Document.objects.order_by("pk").first()

    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            DOCUMENTS, {"action": "export_invoices_csv", "_selected_action": [chosen.pk]}
        )

    (job,) = ExportJob.objects.all()
    assert job.filters["selected"] == [str(chosen.pk)]
    run_export_job(job.pk)
    job.refresh_from_db()
    assert job.rows_written == 1
    with job.file.open("rb") as handle:
        assert chosen.display_number in handle.read().decode("utf-8-sig")


def test_a_broker_that_is_down_fails_the_job_with_a_message(
    admin_client, months, settings, monkeypatch
):
    settings.EXPORT_STREAM_MAX_ROWS = 1

    def refuse(*args, **kwargs):
        raise BrokerError("connection refused")

    monkeypatch.setattr(run_export_job, "delay", refuse)
    # Outside a test transaction on_commit runs at once, as in a request; emulate that here.
    monkeypatch.setattr(
        "cpo_portal.kernel.exports.tasks.transaction.on_commit", lambda send: send()
    )

    response = admin_client.post(export_url(DOCUMENTS, "invoices", "csv"), follow=True)

    (job,) = ExportJob.objects.all()
    assert job.status == ExportJob.Status.FAILED
    assert "connection refused" in job.error
    assert any("could not be handed to the workers" in m for m in messages_of(response))


def test_a_job_whose_user_may_no_longer_export_fails(staff, months, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    user = staff("Support")
    job = ExportJob.objects.create(
        requested_by=user, what="invoices", format="csv", filters={"model": "invoicing.document"}
    )

    run_export_job(job.pk)

    job.refresh_from_db()
    assert job.status == ExportJob.Status.FAILED
    assert job.error == "The user who asked for this export may no longer export."
    assert not job.file


def test_jobs_and_their_files_belong_to_whoever_asked(client, staff, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    owner, other = staff("Accountant", "owner"), staff("Accountant", "other")
    job = ExportJob.objects.create(
        requested_by=owner, what="customers", format="csv", filters={"model": "customers.customer"}
    )
    run_export_job(job.pk)
    download = reverse("admin:invoicing_exportjob_download", args=[job.pk])

    client.force_login(other)
    assert str(job) not in client.get(JOBS).text
    assert client.get(download).status_code == 404

    client.force_login(owner)
    assert str(job) in client.get(JOBS).text
    response = client.get(download)
    assert status_of(response) == 200
    assert 'filename="customers-' in response["Content-Disposition"]


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_writes_the_job(
    client, staff, operator, settings, tmp_path, celery_worker_thread
):
    settings.EXPORT_STREAM_MAX_ROWS = 2
    settings.MEDIA_ROOT = tmp_path
    for _n in range(3):
        CustomerFactory(operator=operator)
    client.force_login(staff("Billing manager"))

    client.post(export_url(CUSTOMERS, "customers", "xlsx"))

    job = ExportJob.objects.get()
    deadline = time.monotonic() + 20
    while job.status in (ExportJob.Status.QUEUED, ExportJob.Status.RUNNING):
        assert time.monotonic() < deadline, "the worker did not finish the export"
        time.sleep(0.1)
        job.refresh_from_db()
    assert job.status == ExportJob.Status.DONE, job.error
    assert job.rows_written == Customer.objects.count() == 3


# --- roles -------------------------------------------------------------------------------------


def test_the_roles_migration_can_run_again_and_gives_exact_permissions(roles):
    ROLES_MIGRATION.create_roles(apps, None)

    def codenames(name):
        group = Group.objects.get(name=name)
        return {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()}

    accountant = codenames("Accountant")
    assert "invoicing.export_data" in accountant
    assert {"invoicing.view_document", "customers.view_customer"} <= accountant
    assert all(".view_" in p or p == "invoicing.export_data" for p in accountant)
    support = codenames("Support")
    assert "invoicing.export_data" not in support
    assert {"customers.change_customer", "invoicing.add_emaildelivery"} <= support
    manager = codenames("Billing manager")
    business = Permission.objects.filter(
        content_type__app_label__in=["customers", "charging", "invoicing", "django_celery_beat"]
    )
    assert manager == {f"{p.content_type.app_label}.{p.codename}" for p in business}
    assert {"invoicing.add_apikey", "invoicing.change_webhookendpoint"} <= manager
    assert not any(p.startswith("auth.") for p in manager | accountant | support)
    # Keys and signing secrets are not accounting data; support sees and re-sends deliveries.
    integrations = ("integrator", "apikey", "webhook", "idempotency")
    assert not any(model in p for p in accountant for model in integrations)
    assert {"invoicing.view_webhookdelivery", "invoicing.change_webhookdelivery"} <= support
    assert not any("apikey" in p or "webhookendpoint" in p for p in support)


def test_accountant_views_and_exports_but_changes_nothing(client, login, months, customer):
    login("Accountant")
    invoice = months["earlier"]

    listing = client.get(DOCUMENTS)
    assert listing.status_code == 200
    assert "Export documents (CSV)" in listing.text
    assert "export_invoices_xlsx" in listing.text  # the action
    assert "credit_selected" not in listing.text
    assert status_of(client.post(export_url(DOCUMENTS, "invoices", "csv"))) == 200
    assert (
        client.get(reverse("admin:invoicing_document_change", args=[invoice.pk])).status_code == 200
    )
    credit = reverse("admin:invoicing_document_credit_note", args=[invoice.pk])
    assert client.post(credit, {"reason": "x"}).status_code == 403
    change_customer = reverse("admin:customers_customer_change", args=[customer.pk])
    assert client.post(change_customer, {"name": "New"}).status_code == 403
    assert client.get(SESSIONS).status_code == 200
    assert status_of(client.post(export_url(SESSIONS, "sessions", "csv"))) == 200


def test_support_changes_customers_but_cannot_export(client, login, months, customer):
    login("Support")

    listing = client.get(DOCUMENTS)
    assert listing.status_code == 200
    assert "Export documents" not in listing.text
    assert "export_invoices_csv" not in listing.text
    assert client.post(export_url(DOCUMENTS, "invoices", "csv")).status_code == 403
    assert client.post(export_url(CUSTOMERS, "customers", "xlsx")).status_code == 403
    chosen = months["earlier"].pk
    response = client.post(
        DOCUMENTS, {"action": "export_invoices_csv", "_selected_action": [chosen]}
    )
    assert not response.has_header("Content-Disposition")  # not an action they have
    change_customer = reverse("admin:customers_customer_change", args=[customer.pk])
    page = client.get(change_customer)
    assert page.status_code == 200
    assert 'name="_save"' in page.text  # an editable form
    assert client.get(JOBS).status_code == 403


def test_billing_manager_may_do_everything(client, login, months):
    login("Billing manager")
    invoice = months["earlier"]

    assert status_of(client.post(export_url(DOCUMENTS, "lines", "xlsx"))) == 200
    credit = reverse("admin:invoicing_document_credit_note", args=[invoice.pk])
    assert client.get(credit).status_code == 200
    assert "credit_selected" in client.get(DOCUMENTS).text
    assert client.get(JOBS).status_code == 200


def test_staff_without_a_role_sees_nothing(client, login):
    login(None)

    assert client.get(DOCUMENTS).status_code == 403
    assert client.post(export_url(DOCUMENTS, "invoices", "csv")).status_code == 403


def test_integrations_in_the_admin_follow_the_roles(client, login, operator):
    from invoicing.models import Integrator, WebhookDelivery, WebhookEndpoint

    integrator = Integrator.objects.create(operator=operator, name="ERP")
    WebhookEndpoint.objects.create(integrator=integrator, url="http://127.0.0.1:9/hooks")
    make_priced_session(operator, CustomerFactory(operator=operator))  # session.priced
    delivery = WebhookDelivery.objects.get()
    delivery_list = reverse("admin:invoicing_webhookdelivery_changelist")
    keys = reverse("admin:invoicing_apikey_changelist")
    resend = {"action": "send_again", "_selected_action": [delivery.pk]}
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status="failed")

    login("Accountant")
    assert client.get(delivery_list).status_code == 403
    assert client.get(keys).status_code == 403

    client.logout()
    login("Support")
    assert "send_again" in client.get(delivery_list).text
    assert client.get(keys).status_code == 403
    client.post(delivery_list, resend)
    assert WebhookDelivery.objects.get().status == "pending"

    client.logout()
    login("Billing manager")
    assert client.get(keys).status_code == 200
    assert client.get(reverse("admin:invoicing_apikey_add")).status_code == 200
