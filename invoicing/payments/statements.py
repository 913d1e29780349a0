"""Bank statements in ISO 20022 camt.053 (statement) and camt.054 (notification), any version
from .001.02 to .001.08: read as a stream, each booked credit becomes a bank transfer in the
ledger (once per bank reference), each returned direct debit reverses its collection."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import IO
from xml.sax.saxutils import escape

from django.core.files.base import ContentFile, File
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from lxml import etree

from invoicing.documents.composition import InvoicingError
from invoicing.payments import ledger
from invoicing.payments.matching import Matcher, record_decision, record_decisions
from invoicing.payments.models import (
    BankStatement,
    MatchOutcome,
    PaymentTransaction,
    StatementCredit,
    StatementStatus,
    TransactionKind,
    TransactionStatus,
)

BANK_TRANSFER = "bank_transfer"
SEPA_DIRECT_DEBIT = "sepa_direct_debit"
CAMT_NAMESPACE = re.compile(r"urn:iso:std:iso:20022:tech:xsd:(camt\.05[34])\.001\.(0[2-9]|1[0-3])")
AMOUNT = re.compile(r"\d{1,15}(\.\d{1,5})?")
COUNTED = (
    "entries",
    "credits",
    "returns",
    "already_imported",
    "matched",
    "partly_matched",
    "to_review",
)
OUTCOME_COUNT = {
    MatchOutcome.MATCHED: "matched",
    MatchOutcome.PARTLY: "partly_matched",
    MatchOutcome.REVIEW: "to_review",
}
# What `_read_header_field` reads of a statement's (Stmt/Ntfctn) own elements.
HEADER_FIELDS = frozenset(("Id", "CreDtTm", "FrToDt", "Acct"))
# Entries read per database round (bounded memory, few queries).
CHUNK = 2000


class StatementError(InvoicingError):
    """The file is not a camt.053/camt.054 the import can read; says the line."""


@dataclass
class Entry:
    """One booked entry of a statement, as the import needs it (amounts exact, never floats)."""

    statement_id: str
    index: int
    bank_reference: str
    credit: bool
    reversal: bool
    amount: Decimal
    currency: str
    booking_date: date | None
    value_date: date | None
    payer_name: str = ""
    payer_iban: str = ""
    remittance: str = ""
    creditor_reference: str = ""
    end_to_end_ids: list[str] = field(default_factory=list)
    return_reason: str = ""
    booked: bool = True
    payload: str = ""
    line: int = 0

    @property
    def reference(self) -> str:
        """What makes the entry unique at the bank: its reference, else statement and position."""
        return self.bank_reference or f"{self.statement_id}/{self.index}"

    @property
    def end_to_end_id(self) -> str:
        return self.end_to_end_ids[0] if len(self.end_to_end_ids) == 1 else ""

    @property
    def is_return(self) -> bool:
        """Money taken back from us: a debit with return information, or a reversed credit."""
        return (not self.credit and bool(self.return_reason)) or (self.credit and self.reversal)

    @property
    def remittance_text(self) -> str:
        return " ".join(part for part in (self.remittance, self.creditor_reference) if part)


@dataclass
class Header:
    message: str = ""
    statement_id: str = ""
    account_iban: str = ""
    created_on: datetime | None = None
    from_date: date | None = None
    to_date: date | None = None


def _local(element) -> str:
    tag = element.tag
    # "{namespace}Name" or "Name"; comments and processing instructions have no name.
    return tag[tag.find("}") + 1 :] if isinstance(tag, str) else ""


def _child(element, *path: str):
    """The first descendant along a path of local names (namespace-agnostic)."""
    if element is None:
        return None
    # lxml walks the path in C: the import reads some twenty paths per entry.
    return element.find(_lxml_path(path))


@cache
def _lxml_path(path: tuple[str, ...]) -> str:
    return "/".join(f"{{*}}{name}" for name in path)


def _text(element, *path: str) -> str:
    found = _child(element, *path)
    return (found.text or "").strip() if found is not None else ""


def _date(element, *path: str) -> date | None:
    found = _child(element, *path)
    if found is None:
        return None
    value = _text(found, "Dt") or _text(found, "DtTm")[:10]
    return parse_date(value) if value else None


def _amount(element, line: int) -> tuple[Decimal, str]:
    if element is None:
        raise StatementError(f"Line {line}: the entry has no amount (Amt).", field="file")
    text = (element.text or "").strip()
    if not AMOUNT.fullmatch(text):
        raise StatementError(
            f"Line {element.sourceline}: “{text[:40]}” is not an amount.", field="file"
        )
    currency = element.get("Ccy", "")
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise StatementError(
            f"Line {element.sourceline}: the amount has no currency (Ccy).", field="file"
        )
    try:
        return Decimal(text), currency
    except InvalidOperation as exc:  # pragma: no cover - the pattern admits only decimals
        raise StatementError(f"Line {element.sourceline}: bad amount.", field="file") from exc


def _party(details, role: str) -> tuple[str, str]:
    """Name and IBAN of a related party (v2-v7: RltdPties/Dbtr/Nm, v8: RltdPties/Dbtr/Pty/Nm)."""
    parties = _child(details, "RltdPties")
    if parties is None:
        return "", ""
    name = _text(parties, role, "Nm") or _text(parties, role, "Pty", "Nm")
    iban = _text(parties, f"{role}Acct", "Id", "IBAN")
    return name, iban


def read_entry(element, *, statement_id: str, index: int) -> Entry:
    """An Ntry element as an Entry; the payload is that element's XML exactly as received."""
    line = element.sourceline or 0
    amount, currency = _amount(_child(element, "Amt"), line)
    status = _child(element, "Sts")
    status_code = ""
    if status is not None:
        status_code = _text(status, "Cd") or (status.text or "").strip()
    entry = Entry(
        statement_id=statement_id,
        index=index,
        bank_reference=_text(element, "AcctSvcrRef"),
        credit=_text(element, "CdtDbtInd") == "CRDT",
        reversal=_text(element, "RvslInd").lower() == "true",
        amount=amount,
        currency=currency,
        booking_date=_date(element, "BookgDt"),
        value_date=_date(element, "ValDt"),
        booked=status_code in ("", "BOOK"),
        line=line,
    )
    remittance, references = [], []
    for details in element.iter("{*}TxDtls"):
        end_to_end = _text(details, "Refs", "EndToEndId")
        if end_to_end and end_to_end != "NOTPROVIDED":
            entry.end_to_end_ids.append(end_to_end)
        role = "Dbtr" if entry.credit != entry.reversal else "Cdtr"
        name, iban = _party(details, role)
        entry.payer_name = entry.payer_name or name
        entry.payer_iban = entry.payer_iban or iban
        info = _child(details, "RmtInf")
        if info is not None:
            remittance += [(u.text or "").strip() for u in info if _local(u) == "Ustrd"]
            for ref in info.iter("{*}CdtrRefInf"):
                references.append(_text(ref, "Ref"))
        returned = _child(details, "RtrInf")
        if returned is not None:
            code = _text(returned, "Rsn", "Cd") or _text(returned, "Rsn", "Prtry")
            text = " ".join(
                (t.text or "").strip() for t in returned if _local(t) == "AddtlInf" and t.text
            )
            entry.return_reason = f"{code} {text}".strip() or "return"
    entry.remittance = " ".join(part for part in remittance if part)
    entry.creditor_reference = " ".join(part for part in references if part)
    entry.payload = etree.tostring(element, encoding="unicode", with_tail=False)
    return entry


def read_statement(source: IO[bytes] | str, header: Header) -> Iterator[Entry]:
    """Stream the entries of a camt.053/054 file (constant memory); fills `header` as it goes.
    Anything else, or broken XML, raises StatementError naming the line."""
    try:
        events = etree.iterparse(
            source,
            events=("start", "end"),
            resolve_entities=False,
            no_network=True,
            huge_tree=True,
            remove_comments=True,
        )
        index = 0
        for event, element in events:
            if event == "start":
                if not header.message:
                    name = _local(element)
                    namespace = etree.QName(element).namespace or ""
                    found = CAMT_NAMESPACE.fullmatch(namespace)
                    if name != "Document" or not found:
                        raise StatementError(
                            f"Line {element.sourceline}: this is not a camt.053 or camt.054 "
                            f"file (it starts with <{name}> in “{namespace or 'no namespace'}”).",
                            field="file",
                        )
                    header.message = f"{found.group(1)}.001.{found.group(2)}"
                continue
            name = _local(element)
            if name == "Ntry":
                index += 1
                yield read_entry(element, statement_id=header.statement_id, index=index)
                element.clear(keep_tail=False)
                parent = element.getparent()
                while element.getprevious() is not None:
                    del parent[0]
            elif (
                name in HEADER_FIELDS
                and element.getparent() is not None
                and _local(element.getparent()) in ("Stmt", "Ntfctn")
            ):
                _read_header_field(element, name, header)
    except etree.XMLSyntaxError as exc:
        line = exc.lineno or (exc.position[0] if exc.position else 0)
        message = str(exc.msg or exc).split(", line")[0]
        raise StatementError(
            f"Line {line}: the file is not well-formed XML ({message}).", field="file"
        ) from exc
    if not header.message:
        raise StatementError("Line 1: the file is empty.", field="file")


def _read_header_field(element, name: str, header: Header) -> None:
    if name == "Id":
        header.statement_id = (element.text or "").strip()
    elif name == "CreDtTm":
        moment = parse_datetime((element.text or "").strip())
        # Banks often write local time without an offset.
        if moment is not None and timezone.is_naive(moment):
            moment = timezone.make_aware(moment)
        header.created_on = moment
    elif name == "FrToDt":
        header.from_date = parse_date(_text(element, "FrDtTm")[:10] or "") or None
        header.to_date = parse_date(_text(element, "ToDtTm")[:10] or "") or None
    elif name == "Acct":
        header.account_iban = _text(element, "Id", "IBAN")


# --- import ---------------------------------------------------------------------------------


def import_statement(statement: BankStatement, *, progress=None) -> BankStatement:
    """Import a stored statement: book its new credits, match them, apply returns and booked
    collections; an entry imported before books nothing twice. Refused files keep the error."""
    BankStatement.objects.filter(pk=statement.pk).update(status=StatementStatus.RUNNING)
    header = Header()
    matcher = Matcher(statement.operator)
    counts = {"entries": 0}
    try:
        with statement.file.open("rb") as source:
            chunk: list[Entry] = []
            for entry in read_statement(source, header):
                chunk.append(entry)
                if len(chunk) >= CHUNK:
                    _book(statement, chunk, matcher, counts)
                    _progress(statement, header, counts, progress, len(chunk))
                    chunk = []
            _book(statement, chunk, matcher, counts)
            _progress(statement, header, counts, progress, len(chunk))
    except StatementError as exc:
        BankStatement.objects.filter(pk=statement.pk).update(
            status=StatementStatus.FAILED, error=str(exc), finished_at=timezone.now()
        )
        statement.refresh_from_db()
        raise
    BankStatement.objects.filter(pk=statement.pk).update(
        status=StatementStatus.DONE, finished_at=timezone.now()
    )
    statement.refresh_from_db()
    return statement


def _progress(statement, header: Header, counts: dict, progress, done: int) -> None:
    fields = {key: value for key, value in counts.items() if key in COUNTED}
    fields.update(
        message_type=header.message,
        statement_id=header.statement_id[:140],
        account_iban=header.account_iban,
        created_on=header.created_on,
        from_date=header.from_date,
        to_date=header.to_date,
    )
    BankStatement.objects.filter(pk=statement.pk).update(**fields)
    if progress is not None:
        progress(done)


def _add(counts: dict, key: str, n: int = 1) -> None:
    counts[key] = counts.get(key, 0) + n


def _book(statement: BankStatement, entries: list[Entry], matcher, counts: dict) -> None:
    """One chunk: skip what was booked before, record the rest, match credits."""
    _add(counts, "entries", len(entries))
    booked = [e for e in entries if e.booked]
    credits = [e for e in booked if e.credit and not e.reversal]
    known = set(
        PaymentTransaction.objects.filter(
            provider=BANK_TRANSFER, provider_reference__in=[e.reference for e in credits]
        ).values_list("provider_reference", flat=True)
    )
    collections = _collections([e for e in booked if e.end_to_end_ids])
    # One transaction per chunk: far fewer commits, and an import cut off midway is simply
    # run again (what was booked is recognised by its reference).
    with transaction.atomic():
        _book_entries(statement, booked, known, collections, matcher, counts)


def _book_entries(statement, booked, known, collections, matcher, counts: dict) -> None:
    """In statement order; a run of new transfers between returns and collections is booked
    in one go (`_book_credits`)."""
    run: list[Entry] = []
    for entry in booked:
        if entry.is_return:
            _book_credits(statement, run, matcher, counts)
            run = []
            _return(statement, entry, collections, counts)
        elif (
            entry.credit
            and entry.end_to_end_ids
            and all(e2e in collections for e2e in entry.end_to_end_ids)
        ):
            _book_credits(statement, run, matcher, counts)
            run = []
            _collections_booked(entry, collections)
            _add(counts, "collections")
        elif entry.credit:
            if entry.reference in known:
                _add(counts, "already_imported")
                continue
            known.add(entry.reference)
            run.append(entry)
    _book_credits(statement, run, matcher, counts)


def _book_credits(statement, entries: list[Entry], matcher, counts: dict) -> None:
    """New transfers recorded and matched in bulk; when one was recorded meanwhile by another
    import (its reference taken), one by one as the ledger does for a single transfer."""
    if not entries:
        return
    try:
        with transaction.atomic():
            credits = [ledger.new_transaction(_credit_facts(statement, e)) for e in entries]
            outcomes = record_decisions(statement, credits, matcher)
    except IntegrityError:
        outcomes = [
            record_decision(
                statement, ledger.record_transaction(_credit_facts(statement, e)), matcher
            )
            for e in entries
        ]
    for outcome in outcomes:
        _add(counts, "credits")
        _add(counts, OUTCOME_COUNT[outcome])


def _collections(entries: list[Entry]) -> dict[str, PaymentTransaction]:
    ids = {e2e for entry in entries for e2e in entry.end_to_end_ids}
    if not ids:
        return {}
    return {
        collection.provider_reference: collection
        for collection in PaymentTransaction.objects.filter(
            provider=SEPA_DIRECT_DEBIT,
            kind=TransactionKind.DIRECT_DEBIT,
            provider_reference__in=ids,
        )
    }


def _credit_facts(statement: BankStatement, entry: Entry) -> ledger.TransactionFacts:
    return ledger.TransactionFacts(
        operator=statement.operator,
        provider=BANK_TRANSFER,
        provider_reference=entry.reference,
        kind=TransactionKind.BANK_TRANSFER,
        status=TransactionStatus.SUCCEEDED,
        amount=entry.amount,
        currency=entry.currency,
        value_date=entry.value_date or entry.booking_date,
        occurred_at=_moment(entry),
        payer_name=entry.payer_name,
        payer_iban=entry.payer_iban,
        remittance_information=entry.remittance_text,
        payload=entry.payload,
        recorded_by=statement.uploaded_by,
    )


def _moment(entry: Entry) -> datetime | None:
    day = entry.booking_date or entry.value_date
    if day is None:
        return None
    return timezone.make_aware(datetime.combine(day, datetime.min.time()))


def _collections_booked(entry: Entry, collections: dict[str, PaymentTransaction]) -> None:
    """The credit of a collection batch: each pending collection in it has succeeded."""
    for e2e in entry.end_to_end_ids:
        collection = collections[e2e]
        if collection.status == TransactionStatus.PENDING:
            ledger.record_transaction(
                ledger.TransactionFacts(
                    operator=collection.operator,
                    provider=SEPA_DIRECT_DEBIT,
                    provider_reference=e2e,
                    kind=collection.kind,
                    status=TransactionStatus.SUCCEEDED,
                    amount=collection.amount,
                    currency=collection.currency,
                )
            )


def _return(statement: BankStatement, entry: Entry, collections, counts: dict) -> None:
    """A returned direct debit reverses its collection (found by end-to-end id), once."""
    collection = collections.get(entry.end_to_end_id)
    if collection is None:
        _add(counts, "unknown_returns")
        return
    reference = f"{collection.provider_reference}/return"
    if PaymentTransaction.objects.filter(
        provider=SEPA_DIRECT_DEBIT, provider_reference=reference
    ).exists():
        _add(counts, "already_imported")
        return
    with transaction.atomic():
        returned = ledger.record_transaction(
            ledger.TransactionFacts(
                operator=statement.operator,
                provider=SEPA_DIRECT_DEBIT,
                provider_reference=reference,
                kind=TransactionKind.DIRECT_DEBIT_RETURN,
                status=TransactionStatus.SUCCEEDED,
                amount=min(entry.amount, collection.amount),
                currency=entry.currency,
                customer=collection.customer,
                parent=collection,
                value_date=entry.value_date or entry.booking_date,
                occurred_at=_moment(entry),
                payer_name=entry.payer_name,
                payer_iban=entry.payer_iban,
                remittance_information=entry.remittance_text,
                failure_reason=entry.return_reason or "return",
                payload=entry.payload,
                recorded_by=statement.uploaded_by,
            )
        )
        StatementCredit.objects.create(
            statement=statement,
            transaction=returned,
            outcome=MatchOutcome.RETURN,
            reason=entry.return_reason[:300],
        )
    _add(counts, "returns")


def receive_statement(*, operator, name: str, data, uploaded_by=None) -> BankStatement:
    """Keep an uploaded file as it came (bytes, or a file streamed to storage); the import
    reads it back from storage."""
    content = ContentFile(data) if isinstance(data, bytes) else File(data)
    if not content.size:
        raise StatementError("Line 1: the file is empty.", field="file")
    statement = BankStatement(operator=operator, file_name=name[:200], uploaded_by=uploaded_by)
    statement.file.save(
        name.replace("\\", "/").rsplit("/", 1)[-1][:100] or "statement.xml", content
    )
    return statement


# --- writing (the demo sample and the benchmark) -----------------------------------------------


@dataclass
class Credit:
    """A credit to write into a sample statement."""

    amount: Decimal
    remittance: str
    payer_name: str
    payer_iban: str = ""
    reference: str = ""
    end_to_end_id: str = "NOTPROVIDED"
    currency: str = "EUR"


def write_camt053(
    out: IO[bytes],
    credits,
    *,
    account_iban: str,
    statement_id: str,
    booked_on: date,
    version: str = "08",
) -> None:
    """Write a camt.053 statement of credits as a bank would (streamed, any count)."""
    ns = f"urn:iso:std:iso:20022:tech:xsd:camt.053.001.{version}"
    status = "<Sts><Cd>BOOK</Cd></Sts>" if version >= "08" else "<Sts>BOOK</Sts>"
    party = "<Dbtr><Pty><Nm>{}</Nm></Pty></Dbtr>" if version >= "08" else "<Dbtr><Nm>{}</Nm></Dbtr>"
    day = booked_on.isoformat()
    out.write(
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Document xmlns="{ns}">\n<BkToCstmrStmt>\n'
        f"<GrpHdr><MsgId>{escape(statement_id)}</MsgId><CreDtTm>{day}T06:00:00</CreDtTm></GrpHdr>\n"
        f"<Stmt><Id>{escape(statement_id)}</Id><CreDtTm>{day}T06:00:00</CreDtTm>"
        f"<FrToDt><FrDtTm>{day}T00:00:00</FrDtTm><ToDtTm>{day}T23:59:59</ToDtTm></FrToDt>"
        f"<Acct><Id><IBAN>{account_iban}</IBAN></Id></Acct>\n".encode()
    )
    for index, credit in enumerate(credits, 1):
        reference = credit.reference or f"{statement_id}-{index:07d}"
        debtor_account = (
            f"<DbtrAcct><Id><IBAN>{credit.payer_iban}</IBAN></Id></DbtrAcct>"
            if credit.payer_iban
            else ""
        )
        entry = (
            f'<Ntry><Amt Ccy="{credit.currency}">{credit.amount}</Amt><CdtDbtInd>CRDT</CdtDbtInd>'
            f"{status}<BookgDt><Dt>{day}</Dt></BookgDt><ValDt><Dt>{day}</Dt></ValDt>"
            f"<AcctSvcrRef>{escape(reference)}</AcctSvcrRef>"
            f"<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly>"
            f"</Domn></BkTxCd><NtryDtls><TxDtls><Refs><EndToEndId>{escape(credit.end_to_end_id)}"
            f'</EndToEndId></Refs><Amt Ccy="{credit.currency}">{credit.amount}</Amt>'
            f"<RltdPties>{party.format(escape(credit.payer_name))}{debtor_account}</RltdPties>"
            f"<RmtInf><Ustrd>{escape(credit.remittance)}</Ustrd></RmtInf>"
            "</TxDtls></NtryDtls></Ntry>\n"
        )
        out.write(entry.encode())
    out.write(b"</Stmt>\n</BkToCstmrStmt>\n</Document>\n")
