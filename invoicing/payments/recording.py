"""Payments staff or integrators record by hand: a transaction of the manual provider,
applied to one document, which is paid once its payments cover its total."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal

from django.db import transaction

from cpo_portal.kernel.money import round_money
from cpo_portal.kernel.periods import today_for
from invoicing.documents.actions import RECORD_PAYMENT, require_action
from invoicing.documents.composition import InvoicingError
from invoicing.documents.models import Document
from invoicing.payments import ledger
from invoicing.payments.models import Payment, TransactionKind, TransactionStatus

# A payment is dated within this window around today: older is a typo, later is not received.
PAYMENT_DATE_PAST_YEARS = 10
PAYMENT_DATE_FUTURE_DAYS = 1


def payment_date_error(*, paid_on: date, today: date) -> str | None:
    """Why a payment date is not believable, or None (a typo like 9999 is refused)."""
    earliest = today.replace(year=today.year - PAYMENT_DATE_PAST_YEARS, day=1)
    latest = today + timedelta(days=PAYMENT_DATE_FUTURE_DAYS)
    if not earliest <= paid_on <= latest:
        return (
            f"The payment date must be between {earliest.isoformat()} and "
            f"{latest.isoformat()} (money already received)."
        )
    return None


def record_payment(
    *,
    document: Document,
    amount: Decimal,
    paid_on: date,
    method: str = Payment.Method.BANK_TRANSFER,
    reference: str = "",
    recorded_by=None,
) -> Payment:
    """Record money received against one document; more than is due is refused."""
    amount = round_money(Decimal(amount), document.currency)
    with transaction.atomic():
        locked = Document.objects.select_for_update(of=("self",)).get(pk=document.pk)
        require_action(locked, RECORD_PAYMENT)
        if amount <= 0:
            raise InvoicingError("A payment amount must be more than zero.", field="amount")
        if method not in Payment.Method.values:
            raise InvoicingError(f"Unknown payment method “{method}”.", field="method")
        if error := payment_date_error(paid_on=paid_on, today=today_for(locked.operator)):
            raise InvoicingError(error, field="paid_on")
        if amount > locked.outstanding:
            raise InvoicingError(
                f"{amount} is more than the {locked.outstanding} still due on {locked}.",
                field="amount",
            )
        entry = ledger.record_transaction(
            ledger.TransactionFacts(
                operator=locked.operator,
                provider="manual",
                provider_reference=f"manual-{uuid.uuid4().hex}",
                kind=TransactionKind.MANUAL,
                status=TransactionStatus.SUCCEEDED,
                amount=amount,
                currency=locked.currency,
                method=method,
                value_date=paid_on,
                intended_document=locked,
                remittance_information=reference,
                recorded_by=recorded_by,
            )
        )
        payment = entry.allocations.get()
    document.refresh_from_db()
    return payment
