"""Whichever comes second triggers the match: a session arriving after its payment is matched
by a real worker, through the receiver of `sessions_ingested`."""

import time

import pytest
from django.db import transaction

from invoicing.terminals import ingest
from invoicing.terminals.models import MatchState, Terminal, TerminalTransaction
from sessions.services import ingest_sessions
from tests.factories import OperatorFactory
from tests.invoicing.helpers import helper_evse, helper_tariff


@pytest.mark.postgres
def test_a_session_arriving_after_its_payment_is_matched_by_the_worker(celery_worker_thread):
    operator = OperatorFactory()
    evse = helper_evse(operator)
    tariff = helper_tariff(operator)
    terminal = Terminal.objects.create(operator=operator, terminal_id="T-W", vendor="acme")
    terminal.evses.set([evse])
    common = {"terminal_id": "T-W", "currency": "EUR", "reference": "LATE-1"}
    with transaction.atomic():
        ingest.receive_many(
            [
                dict(
                    common,
                    id="A-W",
                    kind="authorization",
                    amount="50.00",
                    at="2026-03-02T09:59:00+00:00",
                ),
                dict(
                    common,
                    id="C-W",
                    kind="capture",
                    amount="2.00",
                    authorization_id="A-W",
                    at="2026-03-02T11:01:00+00:00",
                ),
            ],
            operator=operator,
            source="api",
        )
    with transaction.atomic():
        ingest_sessions(
            operator=operator,
            source="cpms",
            payloads=[
                {
                    "source_id": "LATE-1",
                    "evse_id": evse.evse_id,
                    "tariff_id": tariff.ocpi_id,
                    "start": "2026-03-02T10:00:00Z",
                    "end": "2026-03-02T11:00:00Z",
                    "energy_kwh": "5",
                }
            ],
        )
    capture = TerminalTransaction.objects.get(transaction_id="C-W")
    deadline = time.monotonic() + 30
    while capture.session_id is None and time.monotonic() < deadline:
        time.sleep(0.2)
        capture.refresh_from_db()
    assert capture.session.source_id == "LATE-1"
    assert capture.match_state == MatchState.MATCHED
    assert "payment reference LATE-1" in capture.match_explanation
