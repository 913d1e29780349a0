"""The payment ledger's rules: a provider's transaction is recorded once per reference, its
status only moves forward, allocations never exceed what a transaction moved or a document
owes, what is left over is the customer's credit, and documents' paid status follows."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal

from django.db import IntegrityError, connection, transaction
from django.db.models import DecimalField, F, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from cpo_portal.kernel.bulk import insert_models
from cpo_portal.kernel.integrations import webhooks
from cpo_portal.kernel.money import ZERO, round_money
from cpo_portal.kernel.periods import today_for
from cpo_portal.kernel.tenancy import Operator
from customers.models import Customer
from invoicing.documents.actions import RECORD_PAYMENT, require_action
from invoicing.documents.composition import InvoicingError
from invoicing.documents.models import Document, DocumentStatus
from invoicing.payments.models import (
    INCOMING_KINDS,
    OUTGOING_KINDS,
    Payment,
    PaymentTransaction,
    ProviderEvent,
    TransactionKind,
    TransactionStatus,
)
from invoicing.setup.models import DocumentKind
from invoicing.signals import payment_recorded, payment_status_changed
from invoicing.subscriptions.lifecycle import settle_after_payment, settle_candidates

# Statuses a transaction may move to from each: a final status never goes back, and a
# payment that failed may still succeed on a retry at the provider.
NEXT_STATUSES = {
    TransactionStatus.PENDING: {TransactionStatus.SUCCEEDED, TransactionStatus.FAILED},
    TransactionStatus.FAILED: {TransactionStatus.SUCCEEDED},
    TransactionStatus.SUCCEEDED: set(),
}
# What the allocation rules read of a document (the bulk path locks only these columns).
LOCKED_FIELDS = (
    "id",
    "operator_id",
    "customer_id",
    "kind",
    "status",
    "currency",
    "total_gross",
    "amount_paid",
    "due_date",
    "display_number",
)
PAYMENT_EVENT = {
    TransactionKind.REFUND: "payment.refunded",
    TransactionKind.CHARGEBACK: "payment.failed",
    TransactionKind.DIRECT_DEBIT_RETURN: "payment.failed",
}


def accept_notification(*, provider: str, event_id: str, kind: str = "", payload: str = "") -> bool:
    """A provider notification is handled once: False when it was seen before. Call it in the
    transaction that applies the notification, so a failure leaves it to be delivered again."""
    try:
        with transaction.atomic():
            ProviderEvent.objects.create(
                provider=provider, event_id=event_id, kind=kind[:100], payload=payload
            )
    except IntegrityError:
        return False
    return True


@dataclass(frozen=True)
class TransactionFacts:
    """What a provider tells of one transaction; its reference names it at that provider."""

    operator: Operator
    provider: str
    provider_reference: str
    kind: str
    status: str
    amount: Decimal | str
    currency: str
    method: str = ""
    occurred_at: datetime | None = None
    value_date: date | None = None
    customer: Customer | None = None
    parent: PaymentTransaction | None = None
    intended_document: Document | None = None
    payer_name: str = ""
    payer_iban: str = ""
    remittance_information: str = ""
    failure_reason: str = ""
    payload: str = ""
    recorded_by: object = None


def record_transaction(facts: TransactionFacts) -> PaymentTransaction:
    """Record a provider's transaction, or move a known one forward (a notification delivered
    twice or out of order changes nothing twice); on success the money is applied."""
    amount = _checked_amount(facts.amount, facts.currency, kind=facts.kind, status=facts.status)
    facts = replace(facts, amount=amount, occurred_at=facts.occurred_at or timezone.now())
    with transaction.atomic():
        known = (
            PaymentTransaction.objects.select_for_update()
            .filter(provider=facts.provider, provider_reference=facts.provider_reference)
            .first()
        )
        if known is not None:
            if facts.status not in NEXT_STATUSES[known.status]:
                return known
            known.status = facts.status
            known.failure_reason = facts.failure_reason or known.failure_reason
            known.payload = facts.payload or known.payload
            known.save(update_fields=["status", "failure_reason", "payload", "updated_at"])
            _apply_status(known)
            return known
        created = new_transaction(facts)
        try:
            with transaction.atomic():
                created.save(force_insert=True)
        except IntegrityError:
            # Recorded meanwhile by the same notification on another worker: apply as known.
            return record_transaction(
                TransactionFacts(
                    operator=facts.operator,
                    provider=facts.provider,
                    provider_reference=facts.provider_reference,
                    kind=facts.kind,
                    status=facts.status,
                    amount=amount,
                    currency=facts.currency,
                    failure_reason=facts.failure_reason,
                    payload=facts.payload,
                )
            )
        _apply_status(created)
        return created


def new_transaction(facts: TransactionFacts) -> PaymentTransaction:
    """A transaction as the ledger stores it (checked, rounded, IBAN normalised), not saved."""
    document = facts.intended_document
    return PaymentTransaction(
        operator=facts.operator,
        customer=facts.customer or (document.customer if document else None),
        provider=facts.provider,
        provider_reference=facts.provider_reference,
        kind=facts.kind,
        status=facts.status,
        amount=_checked_amount(facts.amount, facts.currency, kind=facts.kind, status=facts.status),
        currency=facts.currency,
        method=facts.method,
        parent=facts.parent,
        intended_document=document,
        value_date=facts.value_date or today_for(facts.operator),
        occurred_at=facts.occurred_at or timezone.now(),
        payer_name=facts.payer_name[:140],
        payer_iban="".join(facts.payer_iban.split()).upper(),
        remittance_information=facts.remittance_information,
        failure_reason=facts.failure_reason[:300],
        payload=facts.payload,
        recorded_by=facts.recorded_by,
    )


def _checked_amount(amount: Decimal | str, currency: str, *, kind: str, status: str) -> Decimal:
    """A new transaction's amount, rounded; more than zero, of a known kind and status."""
    if isinstance(amount, float):
        raise TypeError("Amounts never pass through floats.")
    amount = round_money(Decimal(amount), currency)
    if amount <= 0:
        raise InvoicingError("A transaction's amount must be more than zero.", field="amount")
    if kind not in TransactionKind.values:
        raise InvoicingError(f"Unknown transaction kind “{kind}”.", field="kind")
    if status not in TransactionStatus.values:
        raise InvoicingError(f"Unknown transaction status “{status}”.", field="status")
    return amount


def _apply_status(entry: PaymentTransaction) -> None:
    """What a transaction reaching its status does: money in pays the document it was for,
    money back reverses or settles, integrators hear of it."""
    _apply_money(entry)
    payment_status_changed.send(
        sender=PaymentTransaction, transaction_id=entry.pk, status=entry.status
    )


def _apply_money(entry: PaymentTransaction) -> None:
    if entry.status == TransactionStatus.FAILED:
        if entry.kind in INCOMING_KINDS:
            webhooks.emit(operator=entry.operator_id, event="payment.failed", objects=[entry.pk])
        return
    if entry.status != TransactionStatus.SUCCEEDED:
        return
    # Integrators hear of it once the money is applied, so the event lists the allocations.
    if entry.kind in INCOMING_KINDS:
        if entry.intended_document_id is not None:
            _pay_intended_document(entry)
        webhooks.emit(operator=entry.operator_id, event="payment.succeeded", objects=[entry.pk])
    elif entry.kind in OUTGOING_KINDS:
        if entry.kind != TransactionKind.REFUND:
            reverse_original(entry)
        elif entry.intended_document_id is not None:
            _settle_refund(entry)
        webhooks.emit(
            operator=entry.operator_id, event=PAYMENT_EVENT[entry.kind], objects=[entry.pk]
        )


def _pay_intended_document(entry: PaymentTransaction) -> None:
    document = Document.objects.get(pk=entry.intended_document_id)
    if document.status not in (DocumentStatus.ISSUED, DocumentStatus.OVERDUE):
        return  # paid meanwhile: the money stays as the customer's credit
    share = min(unallocated(entry), document.outstanding)
    if share > 0:
        allocate(entry=entry, document=document, amount=share, recorded_by=entry.recorded_by)


def _settle_refund(entry: PaymentTransaction) -> None:
    """A refund made for a credit note settles it (a negative allocation)."""
    note = Document.objects.get(pk=entry.intended_document_id)
    share = min(unallocated(entry), -note.outstanding)
    if share > 0:
        allocate(entry=entry, document=note, amount=-share)


def reverse_original(entry: PaymentTransaction) -> list[Payment]:
    """A returned direct debit or a chargeback takes the money back from the documents its
    original paid (newest first): they are unpaid again and the dunning takes over."""
    if entry.parent_id is None:
        return []
    left = unallocated(entry)
    reversed_ = []
    paid_by_original = (
        Payment.objects.filter(transaction_id=entry.parent_id)
        .values("document_id")
        .annotate(total=Sum("amount"))
        .order_by("-document_id")
    )
    for row in paid_by_original:
        share = min(left, row["total"])
        if share <= 0:
            continue
        document = Document.objects.get(pk=row["document_id"])
        reversed_.append(allocate(entry=entry, document=document, amount=-share))
        left -= share
    return reversed_


def unallocated(entry: PaymentTransaction) -> Decimal:
    """What of a succeeded transaction is not applied to any document yet (never negative)."""
    if entry.status != TransactionStatus.SUCCEEDED or entry.kind not in (
        *INCOMING_KINDS,
        *OUTGOING_KINDS,
    ):
        return ZERO
    applied = Payment.objects.filter(transaction_id=entry.pk).aggregate(s=Sum("amount"))["s"]
    refunded = ZERO
    if entry.kind in INCOMING_KINDS:
        # Refunds of money never applied to a document (credit paid back) come out of it.
        refunded = (
            PaymentTransaction.objects.filter(
                parent_id=entry.pk,
                kind=TransactionKind.REFUND,
                status=TransactionStatus.SUCCEEDED,
                intended_document__isnull=True,
            ).aggregate(s=Sum("amount"))["s"]
            or ZERO
        )
    return entry.amount - abs(applied or ZERO) - refunded


def unallocated_sql():
    """What an incoming succeeded transaction has not applied to any document nor paid back
    (`unallocated` as SQL, for filters and exports over many rows)."""
    applied = (
        Payment.objects.filter(transaction=OuterRef("pk"))
        .order_by()
        .values("transaction")
        .annotate(s=Sum("amount"))
        .values("s")
    )
    paid_back = (
        PaymentTransaction.objects.filter(
            parent=OuterRef("pk"),
            kind=TransactionKind.REFUND,
            status=TransactionStatus.SUCCEEDED,
            intended_document__isnull=True,
        )
        .order_by()
        .values("parent")
        .annotate(s=Sum("amount"))
        .values("s")
    )
    amount = DecimalField(max_digits=14, decimal_places=2)
    zero = Value(0, output_field=amount)
    return (
        F("amount")
        - Coalesce(Subquery(applied, output_field=amount), zero)
        - Coalesce(Subquery(paid_back, output_field=amount), zero)
    )


def allocate(
    *,
    entry: PaymentTransaction,
    document: Document,
    amount: Decimal,
    method: str | None = None,
    reference: str | None = None,
    recorded_by=None,
) -> Payment:
    """Apply part of a transaction to a document: money in pays at most what is owed, money
    back at most what was paid; never more than the transaction has left (rows locked, so two
    staff allocating the same transfer at once cannot allocate it twice)."""
    amount = round_money(Decimal(amount), document.currency)
    with transaction.atomic():
        entry = PaymentTransaction.objects.select_for_update().get(pk=entry.pk)
        locked = Document.objects.select_for_update(of=("self",)).get(pk=document.pk)
        _check_allocation(entry, locked, amount, left=unallocated(entry))
        if entry.customer_id is None:
            PaymentTransaction.objects.filter(pk=entry.pk).update(customer_id=locked.customer_id)
        allocation = Payment.objects.create(
            transaction=entry,
            document=locked,
            amount=amount,
            paid_on=entry.value_date,
            method=method or entry.payment_method,
            reference=entry.allocation_reference if reference is None else reference[:100],
            recorded_by=recorded_by,
        )
        payment_recorded.send(sender=Payment, payment_id=allocation.pk)
        _follow(locked, amount, paid_on=entry.value_date)
    return allocation


def _check_allocation(
    entry: PaymentTransaction, locked: Document, amount: Decimal, *, left: Decimal
) -> None:
    """What an allocation may not do (one home for the single and the bulk path): cross
    operators or currencies, exceed what the transaction has left, or what is owed or paid."""
    if entry.operator_id != locked.operator_id:
        raise InvoicingError("The transaction belongs to another operator.", field="document")
    if entry.currency != locked.currency:
        raise InvoicingError(
            f"The transaction is in {entry.currency}, {locked} in {locked.currency}.",
            field="document",
        )
    if entry.status != TransactionStatus.SUCCEEDED:
        raise InvoicingError("Only a succeeded transaction can be allocated.", field="amount")
    if abs(amount) > left:
        raise InvoicingError(
            f"Only {left} {entry.currency} of this transaction is left to allocate.",
            field="amount",
        )
    if entry.kind in INCOMING_KINDS:
        if amount <= 0:
            raise InvoicingError("Money received pays a positive amount.", field="amount")
        require_action(locked, RECORD_PAYMENT)
        if amount > locked.outstanding:
            raise InvoicingError(
                f"{amount} is more than the {locked.outstanding} still due on {locked}.",
                field="amount",
            )
    else:
        if amount >= 0:
            raise InvoicingError("Money given back is allocated negative.", field="amount")
        if locked.kind == DocumentKind.CREDIT_NOTE:
            if -amount > -locked.outstanding:
                raise InvoicingError(
                    f"{-amount} is more than the {-locked.outstanding} still to refund on "
                    f"{locked}.",
                    field="amount",
                )
        elif -amount > locked.amount_paid:
            raise InvoicingError(
                f"{-amount} is more than the {locked.amount_paid} paid on {locked}.",
                field="amount",
            )


def _followed(document: Document, paid: Decimal) -> tuple[str, bool]:
    """The status a document takes at an amount paid, and whether it is settled (one home)."""
    if document.kind == DocumentKind.CREDIT_NOTE:
        settled = paid <= document.total_gross
    else:
        settled = paid >= document.total_gross
    if settled and document.status not in (DocumentStatus.CREDITED, DocumentStatus.WITHDRAWN):
        return DocumentStatus.PAID, settled
    if document.status == DocumentStatus.PAID and not settled:
        # Money taken back: open again, overdue at once when its due date has passed.
        past_due = document.due_date < today_for(document.operator)
        return (DocumentStatus.OVERDUE if past_due else DocumentStatus.ISSUED), settled
    return document.status, settled


def _follow(document: Document, amount: Decimal, *, paid_on: date) -> None:
    """A document's amount paid, paid date and status after an allocation."""
    paid = document.amount_paid + amount
    status, settled = _followed(document, paid)
    Document.objects.filter(pk=document.pk).update(
        amount_paid=paid, paid_on=paid_on if settled else None, status=status
    )
    became_paid = status == DocumentStatus.PAID and document.status != DocumentStatus.PAID
    if became_paid and document.kind != DocumentKind.CREDIT_NOTE:
        webhooks.emit(operator=document.operator_id, event="invoice.paid", objects=[document.pk])
        settle_after_payment(document=document)


def record_pending_many(entries: list[PaymentTransaction]) -> None:
    """Many new pending transactions (from `new_transaction`, a collection run's direct debits)
    in one insert: pending moves no money, and each is announced as `record_transaction` does.
    Raises IntegrityError when a reference was recorded before (the caller goes one by one)."""
    if any(entry.status != TransactionStatus.PENDING for entry in entries):
        raise ValueError("Only pending transactions are recorded in bulk.")
    with transaction.atomic():
        insert_models(entries)
        for entry in entries:
            payment_status_changed.send(
                sender=PaymentTransaction, transaction_id=entry.pk, status=entry.status
            )


def record_incoming_many(
    entries: list[PaymentTransaction], allocations: list[tuple[int, int, Decimal]]
) -> None:
    """Many new succeeded incoming transactions (from `new_transaction`) of one operator and
    what they pay, in one go (a bank statement's chunk): the rules of `record_transaction` and
    `allocate`, with the documents locked in id order so staff paying at the same time cannot
    overpay.
    `allocations` are (index into entries, document id, amount) in the order they are made.
    Raises IntegrityError when a reference was recorded meanwhile (the caller goes one by one).
    Archiving is left to the hourly catch-up (`archive_pending`), not a task per row."""
    if not entries:
        return
    operator_id = entries[0].operator_id
    for entry in entries:
        if entry.kind not in INCOMING_KINDS or entry.status != TransactionStatus.SUCCEEDED:
            raise ValueError("Only succeeded incoming transactions are recorded in bulk.")
        if entry.intended_document_id is not None or entry.operator_id != operator_id:
            raise ValueError("Bulk transactions are one operator's, for no document yet.")
    with transaction.atomic():
        ids = sorted({document_id for _, document_id, _ in allocations})
        locked = {
            document.pk: document
            for document in Document.objects.select_for_update(of=("self",))
            .filter(pk__in=ids)
            .order_by("pk")
            .only(*LOCKED_FIELDS)
        }
        left = [entry.amount for entry in entries]
        was = {pk: document.status for pk, document in locked.items()}
        rows, customers, paid_on = [], {}, {}
        for index, document_id, amount in allocations:
            entry, document = entries[index], locked[document_id]
            amount = round_money(Decimal(amount), document.currency)
            _check_allocation(entry, document, amount, left=left[index])
            left[index] -= abs(amount)
            customers.setdefault(index, document.customer_id)
            document.amount_paid += amount
            document.status, settled = _followed(document, document.amount_paid)
            paid_on[document_id] = entry.value_date if settled else None
            rows.append((index, document_id, amount))
        insert_models(entries)
        # As one by one: integrators hear of each transfer before its money is applied.
        webhooks.emit(
            operator=operator_id, event="payment.succeeded", objects=[e.pk for e in entries]
        )
        insert_models(
            [
                Payment(
                    transaction_id=entries[index].pk,
                    document_id=document_id,
                    amount=amount,
                    paid_on=entries[index].value_date,
                    method=entries[index].payment_method,
                    reference=entries[index].allocation_reference,
                )
                for index, document_id, amount in rows
            ]
        )
        unknown = [i for i in customers if entries[i].customer_id is None]
        for index in unknown:
            entries[index].customer_id = customers[index]
        _set_customers([(entries[i].pk, customers[i]) for i in unknown])
        _set_paid([(pk, locked[pk].amount_paid, paid_on[pk], locked[pk].status) for pk in ids])
        became_paid = [
            pk
            for pk in ids
            if locked[pk].status == DocumentStatus.PAID
            and was[pk] != DocumentStatus.PAID
            and locked[pk].kind != DocumentKind.CREDIT_NOTE
        ]
        webhooks.emit(operator=operator_id, event="invoice.paid", objects=became_paid)
        for pk in settle_candidates(became_paid):
            settle_after_payment(document=locked[pk])


def _set_customers(pairs: list[tuple[int, int | None]]) -> None:
    if not pairs:
        return
    if connection.vendor != "postgresql":  # SQLite (the laptop set-up) has no unnest
        for pk, customer_id in pairs:
            PaymentTransaction.objects.filter(pk=pk).update(customer_id=customer_id)
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE invoicing_paymenttransaction t SET customer_id = v.customer_id "
            "FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, customer_id) WHERE t.id = v.id",
            [[p for p, _ in pairs], [c for _, c in pairs]],
        )


def _set_paid(rows: list[tuple[int, Decimal, date | None, str]]) -> None:
    """Documents' amount paid, paid date and status in one statement."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        for pk, paid, paid_on, status in rows:
            Document.objects.filter(pk=pk).update(amount_paid=paid, paid_on=paid_on, status=status)
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE invoicing_document d SET amount_paid = v.paid, paid_on = v.paid_on, "
            "status = v.status FROM unnest(%s::bigint[], %s::numeric[], %s::date[], %s::text[]) "
            "AS v(id, paid, paid_on, status) WHERE d.id = v.id",
            [list(column) for column in zip(*rows, strict=True)],
        )


def customer_credit(customer: Customer) -> dict[str, Decimal]:
    """Money a customer paid that no document used yet, per currency (shown, refundable,
    applied to the next invoice); one query however many payments they made."""
    rows = (
        PaymentTransaction.objects.filter(
            customer=customer,
            status=TransactionStatus.SUCCEEDED,
            kind__in=INCOMING_KINDS,
        )
        .annotate(left=unallocated_sql())
        .filter(left__gt=0)
        .order_by()
        .values("currency")
        .annotate(credit=Sum("left"))
    )
    return {row["currency"]: row["credit"] for row in rows}


def apply_credit(*, document: Document) -> list[Payment]:
    """A new invoice is paid first from the customer's credit (oldest money first); a card
    receipt only by its own capture (walk-in drivers share a customer, not their money)."""
    if (
        document.kind == DocumentKind.CREDIT_NOTE
        or document.customer_id is None
        or document.card_payment
    ):
        return []
    applied = []
    entries = PaymentTransaction.objects.filter(
        customer_id=document.customer_id,
        currency=document.currency,
        status=TransactionStatus.SUCCEEDED,
        kind__in=INCOMING_KINDS,
    ).order_by("value_date", "id")
    for entry in entries:
        document.refresh_from_db()
        if document.status not in (DocumentStatus.ISSUED, DocumentStatus.OVERDUE):
            break
        share = min(unallocated(entry), document.outstanding)
        if share > 0:
            applied.append(allocate(entry=entry, document=document, amount=share))
    return applied


def refunded_from(entry: PaymentTransaction) -> Decimal:
    """What was already given back (or is being given back) from a payment."""
    return (
        PaymentTransaction.objects.filter(
            parent_id=entry.pk,
            kind__in=OUTGOING_KINDS,
            status__in=(TransactionStatus.PENDING, TransactionStatus.SUCCEEDED),
        ).aggregate(s=Sum("amount"))["s"]
        or ZERO
    )


def refund_room(entry: PaymentTransaction, amount: Decimal) -> None:
    """A refund cannot exceed what the payment brought in, less what went back already."""
    if entry.kind not in INCOMING_KINDS or entry.status != TransactionStatus.SUCCEEDED:
        raise InvoicingError("Only a succeeded payment can be refunded.", field="transaction")
    room = entry.amount - refunded_from(entry)
    if amount <= 0:
        raise InvoicingError("A refund must be more than zero.", field="amount")
    if amount > room:
        raise InvoicingError(
            f"{amount} is more than the {room} {entry.currency} left to refund of this payment.",
            field="amount",
        )


def apply_credit_to_issued(document_ids: list[int]) -> int:
    """Newly issued invoices of customers who hold credit are paid from it; returns how many
    allocations were made."""
    with_credit = (
        PaymentTransaction.objects.filter(
            status=TransactionStatus.SUCCEEDED,
            kind__in=INCOMING_KINDS,
            customer_id__in=Document.objects.filter(pk__in=document_ids).values("customer_id"),
        )
        .annotate(applied=Sum("allocations__amount"))
        .filter(Q(applied__isnull=True) | Q(applied__lt=F("amount")))
        .values("customer_id")
    )
    documents = Document.objects.filter(
        pk__in=document_ids,
        customer_id__in=with_credit,
        status__in=(DocumentStatus.ISSUED, DocumentStatus.OVERDUE),
    ).order_by("issue_date", "id")
    return sum(len(apply_credit(document=document)) for document in documents)


def release(*, document: Document) -> list[Payment]:
    """A credited document gives back what its payments paid: a negative allocation per
    transaction, so the money is unallocated again (for the document that replaces it, or as
    the customer's credit); its credit note is then settled, nothing being left to refund."""
    released = []
    with transaction.atomic():
        locked = Document.objects.select_for_update(of=("self",)).get(pk=document.pk)
        if locked.status != DocumentStatus.CREDITED:
            raise InvoicingError(f"{locked} is not credited; its payments stay.", field="document")
        paid_by = (
            Payment.objects.filter(document=locked)
            .values("transaction_id")
            .annotate(total=Sum("amount"))
            .order_by("transaction_id")
        )
        for row in paid_by:
            if row["total"] <= 0:
                continue
            entry = PaymentTransaction.objects.select_for_update().get(pk=row["transaction_id"])
            allocation = Payment.objects.create(
                transaction=entry,
                document=locked,
                amount=-row["total"],
                paid_on=entry.value_date,
                method=entry.payment_method,
                reference=entry.allocation_reference,
            )
            payment_recorded.send(sender=Payment, payment_id=allocation.pk)
            released.append(allocation)
        total = sum((allocation.amount for allocation in released), ZERO)
        if total:
            Document.objects.filter(pk=locked.pk).update(
                amount_paid=F("amount_paid") + total, paid_on=None
            )
            Document.objects.filter(credited_document=locked, status=DocumentStatus.ISSUED).update(
                status=DocumentStatus.PAID, paid_on=today_for(locked.operator)
            )
    return released


def record_refund_made(
    *,
    provider: str,
    payment: PaymentTransaction,
    amount: Decimal,
    credit_note: Document | None = None,
    requested_by=None,
) -> PaymentTransaction:
    """A refund its provider made at once (staff paid it back, the demo): recorded as done,
    never more than the payment has left to refund (the payment's row is locked)."""
    with transaction.atomic():
        payment = PaymentTransaction.objects.select_for_update().get(pk=payment.pk)
        refund_room(payment, amount)
        return record_transaction(
            TransactionFacts(
                operator=payment.operator,
                provider=provider,
                provider_reference=f"{provider}-refund-{uuid.uuid4().hex}",
                kind=TransactionKind.REFUND,
                status=TransactionStatus.SUCCEEDED,
                amount=amount,
                currency=payment.currency,
                customer=payment.customer,
                parent=payment,
                intended_document=credit_note,
                recorded_by=requested_by,
            )
        )
