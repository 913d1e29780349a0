"""The review queue in the admin, and a vendor's settlement file from the admin and a command."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import connection

from invoicing.terminals import live
from invoicing.terminals.models import MatchState, TerminalTransaction
from tests.factories import ChargingSessionFactory
from tests.invoicing.terminals.test_live import paid

pytestmark = pytest.mark.django_db

CSV = (
    "transaction_id,terminal_id,type,amount,currency,time,authorization_id,card_brand,"
    "card_last4,auth_code,reference\n"
    "C1,T-1,sale,18.42,EUR,{capture},A1,VISA,4242,123456,\n"
    "A1,T-1,auth,50.00,EUR,{auth},,VISA,4242,,\n"
    "R1,T-1,refund,99.00,EUR,{capture},A1,,,,\n"
)


def settlement(session):
    auth, capture = paid(session)
    return CSV.format(capture=capture["at"], auth=auth["at"])


def test_a_settlement_file_is_imported_by_command_with_refused_rows_named(site, tmp_path, capsys):
    operator, _, _, session = site
    path = tmp_path / "day.csv"
    path.write_text(settlement(session))
    with pytest.raises(CommandError, match="1 row"):
        call_command("import_settlement", str(path), vendor="acme", operator=operator.pk)
    captured = capsys.readouterr()
    assert "line 4: The refund of 99.00 is more than the 18.42 captured" in captured.err
    assert sorted(TerminalTransaction.objects.values_list("transaction_id", flat=True)) == [
        "A1",
        "C1",
    ]
    path.write_text("id;amount\n1;2\n")
    with pytest.raises(CommandError, match="lacks the column"):
        call_command("import_settlement", str(path), vendor="acme", operator=operator.pk)


def test_staff_import_a_file_and_decide_a_review_in_the_admin(site, admin_client):
    operator, terminal, evses, session = site
    response = admin_client.post(
        "/admin/invoicing/terminaltransaction/settlement/",
        {
            "operator": operator.pk,
            "vendor": "acme",
            "file": SimpleUploadedFile("day.csv", settlement(session).encode()),
        },
        follow=True,
    )
    assert "3 rows: 2 new, 0 already known, 1 refused." in response.content.decode()
    twin = ChargingSessionFactory(
        operator=operator,
        evse=evses[1],
        total_gross=session.total_gross,
        started_at=session.started_at,
        ended_at=session.ended_at,
    )
    live.match_terminal(terminal.pk)
    capture = TerminalTransaction.objects.get(transaction_id="C1")
    listing = admin_client.get("/admin/invoicing/terminaltransaction/?match_state=review")
    assert "equally well" in listing.content.decode()
    admin_client.post(
        f"/admin/invoicing/terminaltransaction/{capture.pk}/change/",
        {"decision": "confirm", "decide_session": twin.pk, "why": "driver called"},
    )
    capture.refresh_from_db()
    assert capture.session == twin and capture.match_state == MatchState.CONFIRMED
    assert capture.matched_by.is_superuser and capture.match_note == "driver called"
    refused = admin_client.post(
        f"/admin/invoicing/terminaltransaction/{capture.pk}/change/",
        {"decision": "undo", "why": ""},
        follow=True,
    )
    assert "Say why" in refused.content.decode()


def test_a_terminal_shows_its_sessions_still_without_payment_and_their_age(site, admin_client):
    _, terminal, _, session = site
    page = admin_client.get(f"/admin/invoicing/terminal/{terminal.pk}/change/").content.decode()
    assert f"{session.source_id} on {session.evse.evse_id}: ended 2 h ago, 18.42 EUR" in page


@pytest.mark.postgres
def test_the_terminal_payments_list_reads_its_first_page_by_its_order_index(site):
    newest_first = TerminalTransaction.objects.order_by(*TerminalTransaction._meta.ordering)[:100]
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # few rows: as the planner would at scale
        assert "terminal_tx_list_order" in newest_first.explain()
