"""A walk-in driver's session paid at a card terminal, and the capture in the ledger."""

from __future__ import annotations

import itertools
from datetime import datetime
from decimal import Decimal

import pytest

from customers.models import Customer
from invoicing.payments import ledger
from invoicing.payments.models import TransactionKind
from tests.factories import CustomerFactory
from tests.invoicing.helpers import make_priced_session

_references = itertools.count(1)


def capture_for(session, *, amount=None):
    """The terminal's capture of the session's gross price, succeeded, in the ledger."""
    return ledger.record_transaction(
        ledger.TransactionFacts(
            operator=session.operator,
            provider="terminal",
            provider_reference=f"CAP-{next(_references)}",
            kind=TransactionKind.CAPTURE,
            status="succeeded",
            amount=amount or session.total_gross,
            currency=session.currency,
            occurred_at=session.ended_at,
        )
    )


def card_payment_for(session, entry):
    """What the terminal engineer's matching announces with the match."""
    return {
        "brand": "VISA",
        "last4": "4242",
        "authorization_code": "A1B2C3",
        "terminal_id": "TERM-0042",
        "at": "2026-03-02T11:02:31+00:00",
        "amount": str(entry.amount),
        "currency": entry.currency,
    }


@pytest.fixture
def walk_in(operator):
    return CustomerFactory(
        operator=operator, kind=Customer.Kind.ANONYMOUS, name="", email="", street=""
    )


@pytest.fixture
def paid_session(operator, walk_in):
    session = make_priced_session(
        operator, walk_in, start=datetime.fromisoformat("2026-03-02T10:00:00+00:00")
    )
    assert session.total_gross > Decimal("0")
    return session


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    """Stored PDFs in a directory of the test's own, never in var/."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"
