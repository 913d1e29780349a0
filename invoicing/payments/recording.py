"""Payments received against issued documents: a document is paid once they cover its total."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from django.db import transaction

from cpo_portal.kernel.integrations import webhooks
from cpo_portal.kernel.money import round_money
from cpo_portal.kernel.periods import today_for
from invoicing.documents.actions import RECORD_PAYMENT, require_action
from invoicing.documents.composition import InvoicingError
from invoicing.documents.models import Document, DocumentStatus
from invoicing.payments.models import Payment
from invoicing.signals import payment_recorded
from invoicing.subscriptions.lifecycle import settle_after_payment

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
    """Record money received; the document is paid once payments cover its total."""
    amount = round_money(Decimal(amount))
    with transaction.atomic():
        locked = Document.objects.select_for_update(of=("self",)).get(pk=document.pk)
        require_action(locked, RECORD_PAYMENT)
        if amount <= 0:
            raise InvoicingError("A payment amount must be more than zero.", field="amount")
        if method not in Payment.Method.values:
            raise InvoicingError(f"Unknown payment method “{method}”.", field="method")
        if error := payment_date_error(paid_on=paid_on, today=today_for(locked.operator)):
            raise InvoicingError(error, field="paid_on")
        outstanding = locked.total_gross - locked.amount_paid
        if amount > outstanding:
            raise InvoicingError(
                f"{amount} is more than the {outstanding} still due on {locked}.", field="amount"
            )
        payment = Payment.objects.create(
            document=locked,
            amount=amount,
            paid_on=paid_on,
            method=method,
            reference=reference,
            recorded_by=recorded_by,
        )
        payment_recorded.send(sender=Payment, payment_id=payment.pk)
        paid = locked.amount_paid + amount
        Document.objects.filter(pk=locked.pk).update(
            amount_paid=paid,
            paid_on=paid_on if paid >= locked.total_gross else None,
            status=DocumentStatus.PAID if paid >= locked.total_gross else locked.status,
        )
        if paid >= locked.total_gross:
            webhooks.emit(operator=locked.operator_id, event="invoice.paid", objects=[locked.pk])
            settle_after_payment(document=locked)
    document.refresh_from_db()
    return payment
