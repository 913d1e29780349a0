"""SEPA direct-debit collection runs: every open EUR invoice due by the collection date of a
customer with an active mandate is collected once, in one pain.008 file, and recorded in the
ledger as a pending collection."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from functools import cache
from pathlib import Path

from django.conf import settings as django_settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from lxml import etree

from cpo_portal.kernel.errors import InvalidInput
from cpo_portal.kernel.money import ZERO
from cpo_portal.kernel.periods import today_for
from cpo_portal.kernel.tenancy import Operator
from invoicing.documents.models import Document, DocumentStatus
from invoicing.payments import ledger
from invoicing.payments.models import (
    CollectionRun,
    CollectionRunState,
    MandateStatus,
    PaymentTransaction,
    SepaMandate,
    SequenceType,
    TransactionKind,
    TransactionStatus,
)
from invoicing.setup.models import DocumentKind, InvoicingSettings
from invoicing.signals import collection_queued

PROVIDER = "sepa_direct_debit"
CURRENCY = "EUR"
# Collections recorded per insert: the progress bar moves, memory stays bounded.
RECORD_CHUNK = 1000
# A collection still under way or done: the invoice is not collected again.
COLLECTING = (TransactionStatus.PENDING, TransactionStatus.SUCCEEDED)
# The characters SEPA allows in identifiers; anything else becomes "-".
NOT_SEPA = re.compile(r"[^A-Za-z0-9+?/:().,' -]")


@dataclass(frozen=True)
class Collection:
    """One invoice to collect under one mandate."""

    invoice: Document
    mandate: SepaMandate
    amount: Decimal
    end_to_end_id: str
    sequence_type: str


def due_invoices(operator: Operator, collection_date: date):
    """Open EUR invoices due by the collection date, of customers with an active mandate, that
    no pending or succeeded collection covers yet (a returned one is collected again)."""
    collecting = PaymentTransaction.objects.filter(
        provider=PROVIDER,
        kind=TransactionKind.DIRECT_DEBIT,
        status__in=COLLECTING,
        intended_document=OuterRef("pk"),
    ).exclude(Exists(_returns(OuterRef("pk"))))
    active_mandate = SepaMandate.objects.filter(
        customer=OuterRef("customer"), status=MandateStatus.ACTIVE, operator=operator
    )
    return (
        Document.objects.filter(
            operator=operator,
            kind=DocumentKind.INVOICE,
            status__in=(DocumentStatus.ISSUED, DocumentStatus.OVERDUE),
            currency=CURRENCY,
            due_date__lte=collection_date,
        )
        .filter(Exists(active_mandate))
        .exclude(Exists(collecting))
        .order_by("customer_id", "due_date", "id")
    )


def _returns(collection):
    return PaymentTransaction.objects.filter(
        parent=collection, kind=TransactionKind.DIRECT_DEBIT_RETURN
    )


def end_to_end_id(invoice: Document, attempt: int) -> str:
    """The invoice's number (a later attempt after a return gets "-<n>"), at most 35 characters."""
    number = NOT_SEPA.sub("-", invoice.display_number or str(invoice.pk))
    suffix = f"-{attempt}" if attempt > 1 else ""
    return number[: 35 - len(suffix)] + suffix


def plan_collections(operator: Operator, collection_date: date) -> list[Collection]:
    """What a run on that date collects: each due invoice's outstanding amount under the
    customer's mandate, FRST when the mandate was never collected from, else RCUR."""
    invoices = list(due_invoices(operator, collection_date).select_related("customer"))
    mandates = {
        mandate.customer_id: mandate
        for mandate in SepaMandate.objects.filter(
            operator=operator,
            status=MandateStatus.ACTIVE,
            customer_id__in={invoice.customer_id for invoice in invoices},
        )
    }
    earlier_attempts: dict[int, int] = {}
    for document_id in PaymentTransaction.objects.filter(
        provider=PROVIDER,
        kind=TransactionKind.DIRECT_DEBIT,
        intended_document_id__in=[invoice.pk for invoice in invoices],
    ).values_list("intended_document_id", flat=True):
        earlier_attempts[document_id] = earlier_attempts.get(document_id, 0) + 1
    plan = []
    for invoice in invoices:
        amount = invoice.outstanding
        if amount <= ZERO:
            continue
        mandate = mandates[invoice.customer_id]
        plan.append(
            Collection(
                invoice=invoice,
                mandate=mandate,
                amount=amount,
                end_to_end_id=end_to_end_id(invoice, earlier_attempts.get(invoice.pk, 0) + 1),
                sequence_type=mandate.sequence_type,
            )
        )
    return plan


def pain008(
    *,
    creditor_name: str,
    creditor_iban: str,
    creditor_bic: str,
    creditor_id: str,
    collection_date: date,
    collections: Iterable[Collection],
    message_id: str,
) -> bytes:
    """The pain.008.001.02 file, refused (InvalidInput) unless it validates against the XSD."""
    creditor = {
        "name": creditor_name[:70],
        "IBAN": creditor_iban,
        "batch": True,
        "creditor_id": creditor_id,
        "currency": CURRENCY,
        "instrument": "CORE",
    }
    if creditor_bic:
        creditor["BIC"] = creditor_bic
    try:
        content = _export(creditor, collection_date, collections, message_id)
    except Exception as error:  # sepaxml refuses a missing or malformed field with a bare Exception
        raise InvalidInput(
            _("The direct-debit file could not be written: %(error)s")
            % {"error": str(error).splitlines()[0][:300] if str(error) else type(error).__name__}
        ) from error
    schema = pain008_schema()
    if not schema.validate(etree.fromstring(content)):
        problem = schema.error_log.last_error
        raise InvalidInput(
            _("The direct-debit file does not validate against the pain.008 schema: %(error)s")
            % {"error": f"{problem.message} ({problem.path})"[:300]}
        )
    return content


@cache
def pain008_schema() -> etree.XMLSchema:
    """The pain.008.001.02 XSD sepaxml ships, compiled once (libxml2 validates 100,000
    collections in seconds where sepaxml's own validation takes minutes)."""
    import sepaxml

    return etree.XMLSchema(
        etree.parse(str(Path(sepaxml.__file__).parent / "schemas" / "pain.008.001.02.xsd"))
    )


def _export(creditor: dict, collection_date: date, collections, message_id: str) -> bytes:
    from sepaxml import SepaDD

    sepa = SepaDD(creditor, schema="pain.008.001.02", clean=True)
    sepa.msg_id = message_id[:35]
    for collection in collections:
        debtor = {
            "name": collection.mandate.account_holder,
            "IBAN": collection.mandate.iban,
            "amount": int(collection.amount * 100),
            "type": collection.sequence_type,
            "collection_date": collection_date,
            "mandate_id": collection.mandate.reference,
            "mandate_date": collection.mandate.signed_on,
            "description": _("Invoice %(number)s") % {"number": collection.end_to_end_id},
            "endtoend_id": collection.end_to_end_id,
        }
        if collection.mandate.bic:
            debtor["BIC"] = collection.mandate.bic
        sepa.add_payment(debtor)
    return sepa.export(validate=False, pretty_print=False)


def _check_date(operator: Operator, collection_date: date) -> None:
    if collection_date < today_for(operator):
        raise InvalidInput(
            _("The collection date %(date)s is in the past.") % {"date": collection_date},
            field="date",
        )


def queue_collection(
    *, operator: Operator, collection_date: date, created_by=None
) -> CollectionRun:
    """Staff start a run that a worker writes (the admin shows it "being written" with the
    number of invoices due, then its counts); the date and the creditor are checked now."""
    _check_date(operator, collection_date)
    _require_creditor(InvoicingSettings.objects.get(operator=operator))
    with transaction.atomic():
        run = CollectionRun.objects.create(
            operator=operator,
            collection_date=collection_date,
            state=CollectionRunState.QUEUED,
            created_by=created_by,
            due_count=len(plan_collections(operator, collection_date)),
        )
        collection_queued.send(sender=CollectionRun, run_id=run.pk)
    return run


def write_queued_collection(*, run_id: int) -> CollectionRun | None:
    """Write a queued run (once: a run already written or failed is left as it is)."""
    run = CollectionRun.objects.filter(pk=run_id).first()
    if run is None or run.state != CollectionRunState.QUEUED:
        return run
    try:
        return collect(
            operator=run.operator,
            collection_date=run.collection_date,
            created_by=run.created_by,
            run=run,
        )
    except InvalidInput as error:
        CollectionRun.objects.filter(pk=run.pk, state=CollectionRunState.QUEUED).update(
            state=CollectionRunState.FAILED, error=str(error)
        )
        return CollectionRun.objects.get(pk=run.pk)


def collect(
    *,
    operator: Operator,
    collection_date: date,
    created_by=None,
    progress: Callable[[int, int], None] | None = None,
    run: CollectionRun | None = None,
) -> CollectionRun:
    """Write one pain.008 for everything due and record each collection as pending; running
    again for the same date collects nothing twice (the operator's settings row is locked)."""
    _check_date(operator, collection_date)
    with transaction.atomic():
        settings = InvoicingSettings.objects.select_for_update().get(operator=operator)
        _require_creditor(settings)
        if run is not None:
            run = CollectionRun.objects.select_for_update().get(pk=run.pk)
            if run.state != CollectionRunState.QUEUED:
                return run  # written by an earlier delivery of the same task
        plan = plan_collections(operator, collection_date)
        state = CollectionRunState.WRITTEN if plan else CollectionRunState.EMPTY
        if run is None:
            run = CollectionRun.objects.create(
                operator=operator,
                collection_date=collection_date,
                state=state,
                created_by=created_by,
                due_count=len(plan),
            )
        else:
            run.state = state
        if not plan:
            run.save()
            return run
        content = pain008(
            creditor_name=operator.legal_name or operator.name,
            creditor_iban="".join(settings.iban.split()).upper(),
            creditor_bic=_creditor_bic(settings),
            creditor_id="".join(settings.sepa_creditor_identifier.split()).upper(),
            collection_date=collection_date,
            collections=plan,
            message_id=f"CPO-{operator.pk}-{run.pk}",
        )
        run.file.save(f"{collection_date:%Y-%m-%d}-{run.pk}.xml", ContentFile(content), save=False)
        entries = []
        for start in range(0, len(plan), RECORD_CHUNK):
            chunk = [
                _pending(operator, c, collection_date, created_by)
                for c in plan[start : start + RECORD_CHUNK]
            ]
            try:
                with transaction.atomic():
                    recorded = [ledger.new_transaction(facts) for facts in chunk]
                    ledger.record_pending_many(recorded)
            except IntegrityError:
                # A reference recorded before: the ledger's single path treats it as known.
                recorded = [ledger.record_transaction(facts) for facts in chunk]
            entries += recorded
            if progress is not None:
                progress(len(entries), len(plan))
        run.collections.add(*entries)
        first_mandates = {c.mandate.pk for c in plan if c.sequence_type == SequenceType.FIRST}
        SepaMandate.objects.filter(pk__in=first_mandates).update(
            sequence_type=SequenceType.RECURRING
        )
        run.collection_count = len(plan)
        run.first_count = sum(1 for c in plan if c.sequence_type == SequenceType.FIRST)
        run.recurring_count = run.collection_count - run.first_count
        run.total = sum((c.amount for c in plan), ZERO)
        run.save()
    return run


def _pending(operator, collection, collection_date: date, created_by) -> ledger.TransactionFacts:
    """A planned collection as the ledger's pending direct debit."""
    return ledger.TransactionFacts(
        operator=operator,
        provider=PROVIDER,
        provider_reference=collection.end_to_end_id,
        kind=TransactionKind.DIRECT_DEBIT,
        status=TransactionStatus.PENDING,
        amount=collection.amount,
        currency=CURRENCY,
        value_date=collection_date,
        customer=collection.invoice.customer,
        intended_document=collection.invoice,
        payer_name=collection.mandate.account_holder,
        payer_iban=collection.mandate.iban,
        remittance_information=collection.end_to_end_id,
        recorded_by=created_by,
    )


def _require_creditor(settings: InvoicingSettings) -> None:
    missing = [
        label
        for label, value in (
            (_("SEPA creditor identifier"), settings.sepa_creditor_identifier),
            (_("IBAN"), settings.iban),
        )
        if not value
    ]
    if missing:
        raise InvalidInput(
            _("Enter the operator's %(fields)s in the invoicing settings before collecting.")
            % {"fields": ", ".join(str(label) for label in missing)}
        )


def _creditor_bic(settings: InvoicingSettings) -> str:
    """The operator's BIC, derived from its IBAN when not entered (pain.008.001.02 needs it)."""
    from schwifty import IBAN
    from schwifty.exceptions import SchwiftyException

    if settings.bic:
        return settings.bic.replace(" ", "").upper()
    try:
        derived = IBAN("".join(settings.iban.split())).bic
    except SchwiftyException:
        derived = None
    if not derived:
        raise InvalidInput(_("Enter the operator's BIC in the invoicing settings."))
    return str(derived)


def settle_collections(*, today: date | None = None) -> int:
    """Pending collections whose collection date plus the settlement period passed without a
    return went through: each succeeds and pays its invoice. Returns how many settled."""
    settled = 0
    # A collection returned before it settled never pays its invoice.
    pending = (
        PaymentTransaction.objects.filter(
            provider=PROVIDER, kind=TransactionKind.DIRECT_DEBIT, status=TransactionStatus.PENDING
        )
        .exclude(Exists(_returns(OuterRef("pk"))))
        .select_related("operator")
    )
    for entry in pending.iterator(chunk_size=500):
        cutoff = (today or today_for(entry.operator)) - timedelta(
            days=django_settings.SEPA_SETTLEMENT_DAYS
        )
        if entry.value_date > cutoff:
            continue
        ledger.record_transaction(
            ledger.TransactionFacts(
                operator=entry.operator,
                provider=PROVIDER,
                provider_reference=entry.provider_reference,
                kind=entry.kind,
                status=TransactionStatus.SUCCEEDED,
                amount=entry.amount,
                currency=entry.currency,
            )
        )
        settled += 1
    return settled


# The SEPA reason codes a bank gives for a returned direct debit (EPC guidance).
RETURN_REASONS = {
    "AC01": _lazy("Account identifier incorrect"),
    "AC04": _lazy("Account closed"),
    "AC06": _lazy("Account blocked"),
    "AC13": _lazy("Debtor account is a consumer account"),
    "AG01": _lazy("Direct debit forbidden on this account"),
    "AG02": _lazy("Invalid bank operation code"),
    "AM04": _lazy("Insufficient funds"),
    "AM05": _lazy("Duplicate collection"),
    "BE05": _lazy("Creditor identifier incorrect"),
    "FF01": _lazy("Invalid file format"),
    "MD01": _lazy("No valid mandate"),
    "MD02": _lazy("Mandate data missing or incorrect"),
    "MD06": _lazy("Refund requested by the debtor"),
    "MD07": _lazy("Debtor deceased"),
    "MS02": _lazy("Refused by the debtor"),
    "MS03": _lazy("Reason not specified"),
    "RC01": _lazy("BIC incorrect"),
    "RR01": _lazy("Regulatory reason: debtor account or identification missing"),
    "RR02": _lazy("Regulatory reason: debtor name or address missing"),
    "RR03": _lazy("Regulatory reason: creditor name or address missing"),
    "RR04": _lazy("Regulatory reason"),
    "SL01": _lazy("Service offered by the debtor's bank (blocked creditor)"),
}


def return_reference(collection: PaymentTransaction) -> str:
    """The return's reference: the bank-statement import uses the same, so a return is never
    recorded twice."""
    return f"{collection.provider_reference}/return"


def record_return(
    *, collection: PaymentTransaction, code: str, recorded_by=None
) -> PaymentTransaction:
    """A returned collection: its invoice is unpaid again and the mandate's next collection is
    FRST again."""
    if collection.provider != PROVIDER or collection.kind != TransactionKind.DIRECT_DEBIT:
        raise InvalidInput(_("Only a SEPA direct-debit collection can be returned."))
    if code not in RETURN_REASONS:
        raise InvalidInput(
            _("“%(code)s” is not a SEPA return reason code.") % {"code": code}, field="code"
        )
    with transaction.atomic():
        if collection.status == TransactionStatus.PENDING:
            # Returned before it settled: it never went through.
            ledger.record_transaction(
                ledger.TransactionFacts(
                    operator=collection.operator,
                    provider=PROVIDER,
                    provider_reference=collection.provider_reference,
                    kind=collection.kind,
                    status=TransactionStatus.FAILED,
                    amount=collection.amount,
                    currency=collection.currency,
                    failure_reason=f"{code} {RETURN_REASONS[code]}",
                )
            )
        returned = ledger.record_transaction(
            ledger.TransactionFacts(
                operator=collection.operator,
                provider=PROVIDER,
                provider_reference=return_reference(collection),
                kind=TransactionKind.DIRECT_DEBIT_RETURN,
                status=TransactionStatus.SUCCEEDED,
                amount=collection.amount,
                currency=collection.currency,
                customer=collection.customer,
                parent=collection,
                payer_name=collection.payer_name,
                payer_iban=collection.payer_iban,
                failure_reason=f"{code} {RETURN_REASONS[code]}",
                recorded_by=recorded_by,
            )
        )
        SepaMandate.objects.filter(
            customer_id=collection.customer_id,
            iban=collection.payer_iban,
            status=MandateStatus.ACTIVE,
        ).update(sequence_type=SequenceType.FIRST)
    return returned
