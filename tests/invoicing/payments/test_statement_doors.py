"""Bank statements through every door: the admin (import with a summary, the review queue with
its two-click assignment), the API upload, and the command with its exit codes."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from invoicing.documents.models import Document, DocumentStatus
from invoicing.payments import ledger
from invoicing.payments.models import BankStatement, MatchOutcome, StatementCredit
from tests.invoicing.payments.camt import Booking, camt, open_invoices

STATEMENT = camt(
    [
        Booking("40.00", "INV-2026-000101", reference="R1"),
        Booking("50.00", "INV-2026-000104", reference="R2"),
        # A stranger's account: no number, nothing to go by but the amount.
        Booking("25.50", "Ladestrom", reference="R3", iban="DE75512108001245126199"),
    ]
)


@pytest.fixture
def invoices(monthly_company):
    return open_invoices(
        monthly_company,
        [("INV-2026-000101", "40.00"), ("INV-2026-000102", "25.50"), ("INV-2026-000104", "99.90")],
    )


def status(document) -> str:
    return Document.objects.get(pk=document.pk).status


# --- admin --------------------------------------------------------------------------------


def test_staff_import_a_statement_and_read_the_summary(admin_client, operator, invoices):
    response = admin_client.post(
        reverse("admin:invoicing_bankstatement_upload"),
        {"operator": operator.pk, "file": SimpleUploadedFile("nov.xml", STATEMENT)},
        follow=True,
    )

    text = response.content.decode()
    assert "3 new transfers — 1 matched, 1 partly matched, 1 to review" in text
    assert status(invoices[0]) == DocumentStatus.PAID
    assert BankStatement.objects.get().uploaded_by.is_superuser


def test_a_file_that_is_not_camt_is_refused_in_the_admin_with_the_line(admin_client, operator):
    response = admin_client.post(
        reverse("admin:invoicing_bankstatement_upload"),
        {"operator": operator.pk, "file": SimpleUploadedFile("x.csv", b"a;b\n1;2\n")},
        follow=True,
    )

    assert "Line 1: the file is not well-formed XML" in response.content.decode()
    assert BankStatement.objects.get().status == "failed"  # kept, with its error


def test_staff_assign_a_transfer_from_the_review_queue_in_two_clicks(
    admin_client, operator, invoices
):
    admin_client.post(
        reverse("admin:invoicing_bankstatement_upload"),
        {"operator": operator.pk, "file": SimpleUploadedFile("nov.xml", STATEMENT)},
    )
    queue = admin_client.get(reverse("admin:invoicing_statementcredit_changelist"))
    item = StatementCredit.objects.get(outcome=MatchOutcome.REVIEW)
    assert "no document number found" in queue.content.decode()
    assert invoices[1].display_number in queue.content.decode()  # the suggested invoice

    url = reverse("admin:invoicing_statementcredit_assign", args=[item.pk])
    page = admin_client.get(url)
    assert "checked" in page.content.decode()  # the only candidate is chosen already
    admin_client.post(url, {"documents": [invoices[1].pk]})

    assert status(invoices[1]) == DocumentStatus.PAID
    item.refresh_from_db()
    assert item.outcome == MatchOutcome.ASSIGNED


def test_the_review_queue_reads_the_suggested_invoices_of_a_page_in_one_query(
    admin_client, operator, invoices
):
    def strangers(count: int) -> bytes:
        return camt(
            [
                Booking(
                    "25.50", "Ladestrom", reference=f"S{count}-{n}", iban="DE75512108001245126199"
                )
                for n in range(count)
            ]
        )

    def queue_queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            page = admin_client.get(reverse("admin:invoicing_statementcredit_changelist"))
        assert invoices[1].display_number in page.content.decode()  # suggested on each row
        return len(captured.captured_queries)

    admin_client.post(
        reverse("admin:invoicing_bankstatement_upload"),
        {"operator": operator.pk, "file": SimpleUploadedFile("a.xml", strangers(2))},
    )
    few = queue_queries()
    admin_client.post(
        reverse("admin:invoicing_bankstatement_upload"),
        {"operator": operator.pk, "file": SimpleUploadedFile("b.xml", strangers(12))},
    )

    assert StatementCredit.objects.filter(outcome=MatchOutcome.REVIEW).count() == 14
    assert queue_queries() == few


def test_the_queue_is_searched_by_any_part_of_the_payer_or_the_remittance(
    admin_client, operator, invoices
):
    bookings = [
        Booking("25.50", "Ladestrom Mai", payer="Grete Müller-Lüdenscheidt", reference="A"),
        Booking("19.99", "Abo Juni KD-4711", payer="Hans Berger", reference="B"),
        Booking("7.00", "Spende", payer="Mia Ohm", reference="C"),
    ]
    admin_client.post(
        reverse("admin:invoicing_bankstatement_upload"),
        {"operator": operator.pk, "file": SimpleUploadedFile("s.xml", camt(bookings))},
    )

    def found(term: str) -> set[str]:
        page = admin_client.get(
            reverse("admin:invoicing_statementcredit_changelist"),
            {"q": term, "outcome__exact": "all"},
        )
        assert page.status_code == 200
        return {c.transaction.payer_name for c in page.context["cl"].result_list}

    assert found("müller") == {"Grete Müller-Lüdenscheidt"}
    assert found("kd-47") == {"Hans Berger"}  # in the remittance information
    assert found("Mi") == {"Mia Ohm"}  # two letters: the payer's name starts with them
    assert found("Lastschrift") == set()


def test_staff_keep_a_transfer_as_credit_from_the_queue(
    admin_client, operator, invoices, monthly_company
):
    admin_client.post(
        reverse("admin:invoicing_bankstatement_upload"),
        {"operator": operator.pk, "file": SimpleUploadedFile("nov.xml", STATEMENT)},
    )
    item = StatementCredit.objects.get(outcome=MatchOutcome.REVIEW)

    admin_client.post(
        reverse("admin:invoicing_statementcredit_assign", args=[item.pk]),
        {"customer": monthly_company.pk, "credit": "1"},
    )

    assert ledger.customer_credit(monthly_company) == {"EUR": Decimal("25.50")}


# --- API ----------------------------------------------------------------------------------


def upload(api, data: bytes, name="nov.xml"):
    return api.client.post(
        "/api/v1/bank-statements/",
        data={"file": SimpleUploadedFile(name, data)},
        headers=api.headers(),
    )


def test_an_integrator_uploads_a_statement_and_reads_its_outcome(api, invoices):
    response = upload(api, STATEMENT)

    assert response.status_code == 201, response.content
    body = json.loads(response.content)
    assert (body["credits"], body["matched"], body["to_review"]) == (3, 1, 1)
    assert body["account_iban"] == "DE89 •••• 3000"
    detail = json.loads(api.get(f"/api/v1/bank-statements/{body['id']}/").content)
    outcomes = sorted(t["outcome"] for t in detail["transfers"])
    assert outcomes == ["matched", "partly", "review"]
    assert json.loads(api.get("/api/v1/bank-statements/").content)["results"][0]["id"] == body["id"]


def test_the_api_refuses_a_file_that_is_not_camt_with_the_line(api):
    response = upload(api, b'<?xml version="1.0"?>\n<invoice/>\n')

    assert response.status_code == 400
    assert "Line 2: this is not a camt.053 or camt.054 file" in response.content.decode()


def test_another_operators_statement_is_not_found(api, other_api, invoices):
    body = json.loads(upload(api, STATEMENT).content)

    assert other_api.get(f"/api/v1/bank-statements/{body['id']}/").status_code == 404


# --- command ------------------------------------------------------------------------------


def test_the_command_imports_a_file_and_says_what_it_did(tmp_path, operator, invoices, capsys):
    path = tmp_path / "nov.xml"
    path.write_bytes(STATEMENT)

    call_command("import_bank_statement", str(path))
    call_command("import_bank_statement", str(path))

    out = capsys.readouterr().out
    assert "3 new credits — 1 matched, 1 partly matched, 1 to review" in out
    assert "0 new credits" in out and "3 imported before" in out


def test_the_command_refuses_a_file_that_is_not_camt(tmp_path, operator):
    path = tmp_path / "x.xml"
    path.write_bytes(
        b'<?xml version="1.0"?>\n<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">'
        b"\n<BkToCstmrStmt></Document>"
    )

    with pytest.raises(CommandError, match="Line 3: the file is not well-formed XML"):
        call_command("import_bank_statement", str(path))
