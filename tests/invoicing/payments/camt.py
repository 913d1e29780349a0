"""camt.053/camt.054 files as banks write them, in several schema versions, for the tests."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from decimal import Decimal

from invoicing.documents.models import Document, DocumentStatus
from tests.invoicing.helpers import issue_invoice_for

OUR_IBAN = "DE89370400440532013000"


@dataclass
class Booking:
    amount: str
    remittance: str = ""
    payer: str = "Ada Lovelace"
    iban: str = "DE02120300000000202051"
    reference: str = ""
    credit: bool = True
    end_to_end: str = ""
    return_code: str = ""
    creditor_reference: str = ""
    currency: str = "EUR"
    batch: tuple[str, ...] = ()


def camt(bookings, *, message="053", version="08", statement_id="STMT-2026-11-30", prefix=""):
    """A statement (053) or notification (054) with one entry per booking."""
    p = f"{prefix}:" if prefix else ""
    ns = f"urn:iso:std:iso:20022:tech:xsd:camt.{message}.001.{version}"
    xmlns = f'xmlns:{prefix}="{ns}"' if prefix else f'xmlns="{ns}"'
    root, part = (
        ("BkToCstmrStmt", "Stmt") if message == "053" else ("BkToCstmrDbtCdtNtfctn", "Ntfctn")
    )
    new = version >= "08"
    entries = []
    for b in bookings:
        status = f"<{p}Sts><{p}Cd>BOOK</{p}Cd></{p}Sts>" if new else f"<{p}Sts>BOOK</{p}Sts>"
        role = "Dbtr" if b.credit else "Cdtr"
        name = (
            f"<{p}{role}><{p}Pty><{p}Nm>{b.payer}</{p}Nm></{p}Pty></{p}{role}>"
            if new
            else f"<{p}{role}><{p}Nm>{b.payer}</{p}Nm></{p}{role}>"
        )
        details = []
        for e2e in b.batch or (b.end_to_end or "NOTPROVIDED",):
            ret = ""
            if b.return_code:
                ret = (
                    f"<{p}RtrInf><{p}Rsn><{p}Cd>{b.return_code}</{p}Cd></{p}Rsn>"
                    f"<{p}AddtlInf>Account closed</{p}AddtlInf></{p}RtrInf>"
                )
            strd = (
                f"<{p}Strd><{p}CdtrRefInf><{p}Ref>{b.creditor_reference}</{p}Ref>"
                f"</{p}CdtrRefInf></{p}Strd>"
                if b.creditor_reference
                else ""
            )
            details.append(
                f"<{p}TxDtls><{p}Refs><{p}EndToEndId>{e2e}</{p}EndToEndId></{p}Refs>"
                f"<{p}RltdPties>{name}<{p}{role}Acct><{p}Id><{p}IBAN>{b.iban}</{p}IBAN></{p}Id>"
                f"</{p}{role}Acct></{p}RltdPties><{p}RmtInf><{p}Ustrd>{b.remittance}</{p}Ustrd>"
                f"{strd}</{p}RmtInf>{ret}</{p}TxDtls>"
            )
        ref = f"<{p}AcctSvcrRef>{b.reference}</{p}AcctSvcrRef>" if b.reference else ""
        entries.append(
            f'<{p}Ntry><{p}Amt Ccy="{b.currency}">{b.amount}</{p}Amt>'
            f"<{p}CdtDbtInd>{'CRDT' if b.credit else 'DBIT'}</{p}CdtDbtInd>{status}"
            f"<{p}BookgDt><{p}Dt>2026-11-30</{p}Dt></{p}BookgDt>"
            f"<{p}ValDt><{p}Dt>2026-11-30</{p}Dt></{p}ValDt>{ref}"
            f"<{p}NtryDtls>{''.join(details)}</{p}NtryDtls></{p}Ntry>"
        )
    body = "\n".join(entries)
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<{p}Document {xmlns}>\n<{p}{root}>\n'
        f"<{p}GrpHdr><{p}MsgId>M1</{p}MsgId><{p}CreDtTm>2026-11-30T06:00:00</{p}CreDtTm></{p}GrpHdr>\n"
        f"<{p}{part}><{p}Id>{statement_id}</{p}Id><{p}CreDtTm>2026-11-30T06:00:00</{p}CreDtTm>"
        f"<{p}FrToDt><{p}FrDtTm>2026-11-30T00:00:00</{p}FrDtTm><{p}ToDtTm>2026-11-30T23:59:59"
        f"</{p}ToDtTm></{p}FrToDt><{p}Acct><{p}Id><{p}IBAN>{OUR_IBAN}</{p}IBAN></{p}Id></{p}Acct>\n"
        f"{body}\n</{p}{part}>\n</{p}{root}>\n</{p}Document>\n"
    ).encode()


def open_invoices(customer, numbers_and_amounts):
    """Open invoices with the given numbers and amounts still due (copies of one issued)."""
    original = issue_invoice_for(customer)
    made = []
    for n, (number, amount) in enumerate(numbers_and_amounts, 1):
        document = copy.copy(Document.objects.get(pk=original.pk))
        document.pk = None
        document.display_number = number
        document.number = original.number + 1000 + n
        document.total_gross = document.total_net = Decimal(amount)
        document.total_vat = Decimal(0)
        document.amount_paid = Decimal(0)
        document.status = DocumentStatus.ISSUED
        made.append(document)
    Document.objects.filter(pk=original.pk).update(status=DocumentStatus.PAID)
    created = Document.objects.bulk_create(made)
    return [Document.objects.get(pk=d.pk) for d in created]
