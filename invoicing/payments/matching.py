"""Matching incoming bank transfers to open invoices: by the document numbers in the
remittance text (typos tolerated), the amount, and the payer's IBAN. Money is allocated only
when the match is certain; everything else waits for staff in the review queue with the reason
and the invoices that came close (a wrong match is worse than none)."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from cpo_portal.kernel.bulk import insert_models
from cpo_portal.kernel.tenancy import Operator
from invoicing.documents.composition import InvoicingError
from invoicing.documents.models import Document, DocumentStatus
from invoicing.payments import ledger
from invoicing.payments.models import (
    INCOMING_KINDS,
    MatchOutcome,
    PaymentTransaction,
    StatementCredit,
)
from invoicing.setup.models import DocumentKind

# An underpayment this small is more likely a fee or a typo than a partial payment: staff look.
SMALL_DIFFERENCE = Decimal("1.00")
# Shorter references are too likely to be something else (a date, a customer number) to be
# read with a typo.
FUZZY_MIN_LENGTH = 6
SEPARATORS = re.compile(r"[\s,;:/+&]+")
NOT_ALNUM = re.compile(r"[^0-9A-Z]")
TRAILING_DIGITS = re.compile(r"(\d{5,})$")
MAX_CANDIDATES = 10


def normalize(text: str) -> str:
    """A reference as compared: upper case, separators and punctuation dropped."""
    return NOT_ALNUM.sub("", text.upper())


def within_one_edit(a: str, b: str) -> bool:
    """The similarity rule: equal, or one character wrong, missing or extra, or two adjacent
    characters swapped (optimal string alignment distance at most 1)."""
    if a == b:
        return True
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    if la == lb:
        diffs = [i for i in range(la) if a[i] != b[i]]
        if len(diffs) == 1:
            return True
        return (
            len(diffs) == 2
            and diffs[1] == diffs[0] + 1
            and a[diffs[0]] == b[diffs[1]]
            and a[diffs[1]] == b[diffs[0]]
        )
    short, long_ = (a, b) if la < lb else (b, a)
    i = 0
    while i < len(short) and short[i] == long_[i]:
        i += 1
    return short[i:] == long_[i + 1 :]


def _deletes(text: str) -> set[str]:
    return {text[:i] + text[i + 1 :] for i in range(len(text))}


def reference_windows(remittance: str) -> set[str]:
    """What in a remittance text could be a document number: each word, and runs of up to
    three words written together (“INV 2026 0001” is INV20260001)."""
    words = [normalize(word) for word in SEPARATORS.split(remittance.upper())]
    words = [word for word in words if word]
    windows = set()
    for start in range(len(words)):
        for end in range(start + 1, min(start + 3, len(words)) + 1):
            windows.add("".join(words[start:end]))
    return windows


class IdIndex:
    """Invoice ids by key, for some hundred thousand keys: a key with one id (nearly all) keeps
    it as a plain int, a set only where ids share a key (a set per key tripled the memory)."""

    __slots__ = ("_ids",)

    def __init__(self):
        self._ids: dict = {}

    def add(self, key, pk: int) -> None:
        found = self._ids.get(key)
        if found is None:
            self._ids[key] = pk
        elif isinstance(found, set):
            found.add(pk)
        elif found != pk:
            self._ids[key] = {found, pk}

    def discard(self, key, pk: int) -> None:
        found = self._ids.get(key)
        if found == pk:
            del self._ids[key]
        elif isinstance(found, set):
            found.discard(pk)

    def get(self, key) -> tuple[int, ...] | set[int]:
        found = self._ids.get(key)
        if found is None:
            return ()
        return found if isinstance(found, set) else (found,)

    def __len__(self) -> int:
        return len(self._ids)


@dataclass(slots=True)
class OpenInvoice:
    id: int
    number: str
    outstanding: Decimal
    currency: str
    customer_id: int | None
    due_date: object = None
    position: int = 0  # the order the invoices were read in


@dataclass
class Decision:
    outcome: str
    pays: list[tuple[OpenInvoice, Decimal]] = field(default_factory=list)
    reason: str = ""
    candidates: list[OpenInvoice] = field(default_factory=list)


def _money(amount: Decimal, currency: str) -> str:
    return f"{amount} {currency}"


class Matcher:
    """The open invoices and known payer IBANs of one operator, loaded once for a statement
    and kept current as transfers are allocated."""

    def __init__(self, operator: Operator):
        self.operator = operator
        self.invoices: dict[int, OpenInvoice] = {}
        self.by_number = IdIndex()
        self.by_customer = IdIndex()
        self._fuzzy: IdIndex | None = None
        self._amounts: IdIndex | None = None
        rows = Document.objects.filter(
            operator=operator,
            kind=DocumentKind.INVOICE,
            status__in=(DocumentStatus.ISSUED, DocumentStatus.OVERDUE),
        ).values_list(
            "id",
            "display_number",
            "total_gross",
            "amount_paid",
            "currency",
            "customer_id",
            "due_date",
        )
        for pk, number, gross, paid, currency, customer_id, due in rows.iterator(chunk_size=5000):
            if gross - paid <= 0:
                continue
            invoice = OpenInvoice(
                pk, number, gross - paid, currency, customer_id, due, len(self.invoices)
            )
            self.invoices[pk] = invoice
            key = normalize(number)
            self.by_number.add(key, pk)
            # “Rechnung 000123” for INV-000123: the number without its prefix, read exactly.
            if (digits := TRAILING_DIGITS.search(key)) and digits.group(1) != key:
                self.by_number.add(digits.group(1), pk)
            if customer_id:
                self.by_customer.add(customer_id, pk)
        self.iban_customers: dict[str, set[int]] = defaultdict(set)
        known = (
            PaymentTransaction.objects.filter(
                operator=operator, kind__in=INCOMING_KINDS, customer__isnull=False
            )
            .exclude(payer_iban="")
            .values_list("payer_iban", "customer_id")
            .distinct()
        )
        for iban, customer_id in known.iterator(chunk_size=5000):
            self.iban_customers[iban].add(customer_id)

    # --- finding -----------------------------------------------------------------------------

    def _open(self, ids, currency: str) -> list[OpenInvoice]:
        found = (self.invoices.get(pk) for pk in ids)
        return sorted(
            (i for i in found if i and i.currency == currency and i.outstanding > 0),
            key=lambda i: (i.due_date, i.id),
        )

    def _fuzzy_index(self) -> IdIndex:
        """Each number and each number with one character deleted (built once, when needed)."""
        if self._fuzzy is None:
            self._fuzzy = IdIndex()
            for invoice in self.invoices.values():
                key = normalize(invoice.number)
                if len(key) >= FUZZY_MIN_LENGTH:
                    for variant in {key} | _deletes(key):
                        self._fuzzy.add(variant, invoice.id)
        return self._fuzzy

    def _by_amount(self) -> IdIndex:
        """Open invoices by what they owe (built once, when a transfer names no number)."""
        if self._amounts is None:
            self._amounts = IdIndex()
            for invoice in self.invoices.values():
                self._amounts.add(invoice.outstanding, invoice.id)
        return self._amounts

    def named(self, remittance: str, currency: str) -> tuple[list[OpenInvoice], bool]:
        """The open invoices the remittance text names, and whether that took a typo."""
        windows = reference_windows(remittance)
        exact = {pk for window in windows for pk in self.by_number.get(window)}
        if exact:
            return self._open(exact, currency), False
        index = self._fuzzy_index() if windows else IdIndex()
        close = set()
        for window in windows:
            if len(window) < FUZZY_MIN_LENGTH - 1:
                continue
            for variant in {window} | _deletes(window):
                for pk in index.get(variant):
                    if within_one_edit(window, normalize(self.invoices[pk].number)):
                        close.add(pk)
        return self._open(close, currency), True

    def payer(self, iban: str) -> int | None:
        """The customer an IBAN belongs to, from earlier payments (one customer only)."""
        customers = self.iban_customers.get("".join(iban.split()).upper(), set())
        return next(iter(customers)) if len(customers) == 1 else None

    # --- deciding ----------------------------------------------------------------------------

    def decide(self, *, amount: Decimal, currency: str, remittance: str, iban: str) -> Decision:
        """Where a transfer goes; see docs/payments.md “Matching rules”."""
        named, typo = self.named(remittance, currency)
        if named and not typo:
            return self._decide_named(named, amount, currency)
        if named:
            fitting = [i for i in named if i.outstanding == amount]
            if len(fitting) == 1:
                return Decision(MatchOutcome.MATCHED, [(fitting[0], amount)])
            if len(fitting) > 1:
                return Decision(
                    MatchOutcome.REVIEW,
                    reason=f"{len(fitting)} invoices match equally",
                    candidates=fitting,
                )
            return Decision(
                MatchOutcome.REVIEW,
                reason=(
                    f"the reference is close to {named[0].number}, but the amount differs by "
                    f"{_money(abs(named[0].outstanding - amount), currency)}"
                    if len(named) == 1
                    else f"the reference is close to {len(named)} invoices"
                ),
                candidates=named,
            )
        customer_id = self.payer(iban) if iban else None
        if customer_id is not None:
            theirs = self._open(self.by_customer.get(customer_id), currency)
            fitting = [i for i in theirs if i.outstanding == amount]
            if len(fitting) == 1:
                return Decision(MatchOutcome.MATCHED, [(fitting[0], amount)])
            reason = (
                f"no document number found; {len(fitting)} invoices of the payer match equally"
                if fitting
                else "no document number found; no open invoice of the payer has this amount"
            )
            return Decision(MatchOutcome.REVIEW, reason=reason, candidates=fitting or theirs)
        same_amount = (
            sorted(
                (
                    i
                    for i in map(self.invoices.get, self._by_amount().get(amount))
                    if i.currency == currency and i.outstanding == amount
                ),
                key=lambda i: i.position,
            )[:MAX_CANDIDATES]
            if amount
            else []
        )
        return Decision(
            MatchOutcome.REVIEW, reason="no document number found", candidates=same_amount
        )

    def _decide_named(self, named: list[OpenInvoice], amount: Decimal, currency: str) -> Decision:
        owed = sum((i.outstanding for i in named), Decimal(0))
        if amount >= owed:
            # Exactly what the named invoices owe, or more: the rest is the customer's credit.
            return Decision(MatchOutcome.MATCHED, [(i, i.outstanding) for i in named])
        difference = owed - amount
        if len(named) > 1:
            return Decision(
                MatchOutcome.REVIEW,
                reason=(
                    f"{len(named)} invoices named, the amount is "
                    f"{_money(difference, currency)} less than they owe"
                ),
                candidates=named,
            )
        if difference < SMALL_DIFFERENCE:
            return Decision(
                MatchOutcome.REVIEW,
                reason=f"amount differs by {_money(difference, currency)}",
                candidates=named,
            )
        return Decision(MatchOutcome.PARTLY, [(named[0], amount)])

    # --- allocating --------------------------------------------------------------------------

    def take(self, invoice: OpenInvoice, amount: Decimal) -> None:
        """What an invoice still owes after `amount` was allocated to it (negative: undone)."""
        if self._amounts is not None:
            self._amounts.discard(invoice.outstanding, invoice.id)
            self._amounts.add(invoice.outstanding - amount, invoice.id)
        invoice.outstanding -= amount

    def allocate(self, credit, invoice: OpenInvoice, amount: Decimal) -> None:
        ledger.allocate(
            entry=credit,
            document=Document(pk=invoice.id, currency=invoice.currency),
            amount=amount,
        )
        self.take(invoice, amount)


def _decide(credit: PaymentTransaction, matcher: Matcher) -> Decision:
    return matcher.decide(
        amount=credit.amount,
        currency=credit.currency,
        remittance=credit.remittance_information,
        iban=credit.payer_iban,
    )


def _learned(credit: PaymentTransaction, decision: Decision, matcher: Matcher) -> None:
    """A payer IBAN that paid a customer's invoice points to that customer from now on."""
    if decision.pays and credit.payer_iban:
        matcher.iban_customers[credit.payer_iban].add(decision.pays[0][0].customer_id)


def _queue_row(statement, credit: PaymentTransaction, decision: Decision) -> StatementCredit:
    return StatementCredit(
        statement=statement,
        transaction=credit,
        outcome=decision.outcome,
        reason=decision.reason[:300],
        candidates=[i.id for i in decision.candidates[:MAX_CANDIDATES]],
    )


def record_decision(statement, credit: PaymentTransaction, matcher: Matcher) -> str:
    """Match a transfer read from a statement and remember how (the review queue's rows)."""
    decision = _decide(credit, matcher)
    for invoice, amount in decision.pays:
        matcher.allocate(credit, invoice, amount)
    _learned(credit, decision, matcher)
    _queue_row(statement, credit, decision).save()
    return decision.outcome


def record_decisions(statement, credits: list[PaymentTransaction], matcher: Matcher) -> list[str]:
    """New transfers of a statement recorded, matched and allocated in one go, exactly as
    `record_decision` would one by one (same decisions, allocations, statuses and events)."""
    decisions, allocations, learned = [], [], []
    try:
        for index, credit in enumerate(credits):
            decision = _decide(credit, matcher)
            for invoice, amount in decision.pays:
                allocations.append((index, invoice, amount))
                matcher.take(invoice, amount)
            if decision.pays and credit.payer_iban:
                customer_id = decision.pays[0][0].customer_id
                if customer_id not in matcher.iban_customers[credit.payer_iban]:
                    learned.append((credit.payer_iban, customer_id))
            _learned(credit, decision, matcher)
            decisions.append(decision)
        ledger.record_incoming_many(
            credits, [(i, inv.id, amount) for i, inv, amount in allocations]
        )
        rows = [_queue_row(statement, c, d) for c, d in zip(credits, decisions, strict=True)]
        insert_models(rows)
    except BaseException:
        # Nothing was written: the matcher forgets what it took for written.
        for _, invoice, amount in reversed(allocations):
            matcher.take(invoice, -amount)
        for iban, customer_id in learned:
            matcher.iban_customers[iban].discard(customer_id)
        raise
    return [decision.outcome for decision in decisions]


# --- the review queue ------------------------------------------------------------------------


def assign(*, item: StatementCredit, documents: list[Document], user=None) -> list:
    """Staff assign a transfer to one or several invoices (oldest due first, each up to what
    it owes); what is left is the customer's credit."""
    if not documents:
        raise InvoicingError("Choose at least one invoice.", field="documents")
    with transaction.atomic():
        item = StatementCredit.objects.select_for_update().get(pk=item.pk)
        if item.outcome != MatchOutcome.REVIEW:
            raise InvoicingError("This transfer was placed already.", field="documents")
        credit = item.transaction
        allocations = []
        for document in sorted(documents, key=lambda d: (d.due_date, d.pk)):
            left = ledger.unallocated(credit)
            document.refresh_from_db()
            share = min(left, document.outstanding)
            if share <= 0:
                continue
            allocations.append(
                ledger.allocate(entry=credit, document=document, amount=share, recorded_by=user)
            )
        if not allocations:
            raise InvoicingError(
                "Nothing is left to allocate to these invoices.", field="documents"
            )
        _resolve(item, MatchOutcome.ASSIGNED, user)
    return allocations


def keep_as_credit(*, item: StatementCredit, customer, user=None) -> None:
    """Staff say whose money a transfer is without an invoice: it is that customer's credit."""
    with transaction.atomic():
        item = StatementCredit.objects.select_for_update().get(pk=item.pk)
        if item.outcome != MatchOutcome.REVIEW:
            raise InvoicingError("This transfer was placed already.", field="customer")
        if customer.operator_id != item.transaction.operator_id:
            raise InvoicingError("The customer belongs to another operator.", field="customer")
        PaymentTransaction.objects.filter(pk=item.transaction_id).update(customer=customer)
        _resolve(item, MatchOutcome.CREDIT, user)


def _resolve(item: StatementCredit, outcome: str, user) -> None:
    item.outcome = outcome
    item.resolved_by = user
    item.resolved_at = timezone.now()
    item.save(update_fields=["outcome", "resolved_by", "resolved_at"])
