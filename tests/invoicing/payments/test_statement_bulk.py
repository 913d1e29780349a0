"""A statement's transfers are booked in bulk per chunk with exactly the outcome of booking
them one by one through the ledger: same allocations, statuses, paid dates, review queue,
customers and webhook events."""

from __future__ import annotations

import random
from decimal import Decimal

from django.db import IntegrityError, transaction

from cpo_portal.kernel.integrations.models import WebhookDelivery, WebhookEvent
from invoicing.documents.models import Document
from invoicing.models import WebhookEndpoint
from invoicing.payments import statements
from invoicing.payments.models import Payment, PaymentTransaction, StatementCredit
from invoicing.payments.statements import import_statement, receive_statement
from tests.invoicing.payments.camt import Booking, camt, open_invoices

INVOICES = 120


def bookings() -> list[Booking]:
    """Some 300 credits of every kind the matcher knows, several paying the same invoices."""
    rng = random.Random(7)
    made = []
    for n in range(300):
        g = rng.randrange(1, INVOICES + 1)
        number = f"INV-2026-{g:06d}"
        owed = Decimal(20) + Decimal(g) / 4
        roll = rng.random()
        iban = f"DE0212030000000020{g % 7:04d}"
        if roll < 0.35:
            booking = Booking(str(owed), f"Rechnung {number}", iban=iban)
        elif roll < 0.5:
            booking = Booking(str(owed - 5), number, iban=iban)  # partly
        elif roll < 0.6:
            booking = Booking(str(owed + 3), number.replace("-", " "), iban=iban)  # credit left
        elif roll < 0.7:
            typo = number[:-2] + number[-1] + number[-2]
            booking = Booking(str(owed), typo, iban=iban)
        elif roll < 0.78:
            other = f"INV-2026-{(g % INVOICES) + 1:06d}"
            booking = Booking(str(owed * 2), f"{number}, {other}", iban=iban)
        elif roll < 0.86:
            booking = Booking(str(owed), "Ladestrom", iban=iban)  # by payer IBAN or review
        elif roll < 0.9:
            booking = Booking(str(owed - Decimal("0.30")), number, iban=iban)  # cents short
        elif roll < 0.95:
            booking = Booking("7.50", "", credit=False, iban=iban)  # a debit: not booked
        else:
            booking = Booking(str(owed), "Danke", iban="")
        booking.reference = f"R{n:04d}"
        made.append(booking)
    made.append(Booking("10.00", "again", reference="R0001"))  # the same reference twice
    return made


def outcome(invoices) -> dict:
    """Everything a user can notice, keyed by what does not depend on row ids."""
    number = {d.pk: d.display_number for d in invoices}
    documents = {
        d.display_number: (d.status, d.amount_paid, d.paid_on)
        for d in Document.objects.filter(pk__in=number)
    }
    transactions = {
        t.provider_reference: (t.amount, t.customer_id, t.payer_iban, t.status, t.value_date)
        for t in PaymentTransaction.objects.all()
    }
    allocations = sorted(
        (p.transaction.provider_reference, number[p.document_id], p.amount, p.paid_on, p.method)
        for p in Payment.objects.select_related("transaction").filter(document_id__in=number)
    )
    queue = {
        c.transaction.provider_reference: (
            c.outcome,
            c.reason,
            sorted(number[pk] for pk in c.candidates),
        )
        for c in StatementCredit.objects.select_related("transaction")
    }
    refs = {t.pk: t.provider_reference for t in PaymentTransaction.objects.all()}
    events = sorted(
        (e.type, refs[e.object_id] if e.type.startswith("payment.") else number[e.object_id])
        for e in WebhookEvent.objects.all()
    )
    return {
        "documents": documents,
        "transactions": transactions,
        "allocations": allocations,
        "queue": queue,
        "events": events,
    }


def forget_issuing() -> None:
    """The outbox without the events of issuing the invoices."""
    WebhookDelivery.objects.all().delete()
    WebhookEvent.objects.all().delete()


def test_bulk_booking_is_exactly_booking_one_by_one(
    operator, monthly_company, integrator, monkeypatch
):
    WebhookEndpoint.objects.create(integrator=integrator, url="http://127.0.0.1:9/hooks")
    invoices = open_invoices(
        monthly_company,
        [(f"INV-2026-{g:06d}", str(Decimal(20) + Decimal(g) / 4)) for g in range(1, INVOICES + 1)],
    )
    data = camt(bookings())
    forget_issuing()
    # Chunks of 70: the matcher's memory carries over from one chunk to the next.
    monkeypatch.setattr(statements, "CHUNK", 70)

    def one_by_one(*args, **kwargs):
        raise IntegrityError("taken meanwhile")  # the ledger's single-transfer path

    monkeypatch.setattr(statements, "record_decisions", one_by_one)
    # The ledger keeps its records for good: the one-by-one import is rolled back, not deleted.
    with transaction.atomic():
        single = import_statement(receive_statement(operator=operator, name="a.xml", data=data))
        expected = outcome(invoices)
        transaction.set_rollback(True)
    monkeypatch.undo()
    monkeypatch.setattr(statements, "CHUNK", 70)
    bulk = import_statement(receive_statement(operator=operator, name="a.xml", data=data))

    counted = ("credits", "matched", "partly_matched", "to_review", "already_imported")
    assert [getattr(bulk, c) for c in counted] == [getattr(single, c) for c in counted]
    assert single.matched > 100 and single.partly_matched > 10 and single.to_review > 20
    assert outcome(invoices) == expected
    assert any(e[0] == "invoice.paid" for e in expected["events"])
