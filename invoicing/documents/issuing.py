"""Business operations on documents: issue, credit, correct, pay, mark overdue.

Every operation is one transaction. Follow-up work (rendering, delivery) is queued on commit.
Monthly billing runs live in `invoicing/billing.py` and store documents through `store_drafts`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING

from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q, Sum
from django.utils import timezone

from cpo_portal.kernel.bulk import id_set, insert_models
from cpo_portal.kernel.integrations import webhooks
from cpo_portal.kernel.periods import local_date, today_for
from cpo_portal.kernel.tenancy import Operator
from customers.models import Customer
from customers.services import clean_invoice_details, invoice_detail_errors
from invoicing.documents import issue_hooks
from invoicing.documents.actions import CORRECT_RECIPIENT, CREDIT, WITHDRAW, require_action
from invoicing.documents.composition import (
    ChargeGroup,
    DocumentDraft,
    InvoicingError,
    SessionFacts,
    compose_credit_note,
    compose_document,
    customers_on_schedule,
    document_kind_for,
    issuing_schedule_of,
    profile_for,
    recipient_field_errors,
)
from invoicing.documents.models import (
    RECIPIENT_FIELDS,
    BilledSession,
    Document,
    DocumentKind,
    DocumentOrigin,
    DocumentStatus,
    HeldSession,
    RecipientCorrection,
)
from invoicing.documents.numbering import issue_drafts, open_series
from invoicing.documents.receipts import (
    PAID_ON_THE_SPOT,
    missing_recipient_fields,
    within_simplified_limit,
)
from invoicing.documents.repricing import reprice_unbilled_session
from invoicing.documents.selectors import billed, never_billed
from invoicing.setup.models import InvoicingSettings
from invoicing.setup.operators import ensure_series
from invoicing.signals import documents_issued, recipient_corrected
from invoicing.tax.rules import TaxTable, load_table, vat_registrations
from sessions.models import ChargingSession, SessionChargeLine
from sessions.pricing import PricingError

if TYPE_CHECKING:  # a billing run issues documents; documents never need billing at run time
    from invoicing.billing.models import BillingRun

logger = logging.getLogger(__name__)

__all__ = [
    "DocumentHeld",
    "InvoicingError",
    "bill_sessions",
    "correct_recipient_details",
    "fit_recipient",
    "issue_credit_note",
    "issue_session_documents",
    "mark_overdue_documents",
    "sessions_due_per_session",
    "store_drafts",
    "withdraw_pro_forma",
]


# --- recipient completeness ------------------------------------------------------------------


class DocumentHeld(InvoicingError):
    """An invoice above the simplified-receipt limit (or a pro forma) whose recipient details
    are incomplete: it is held, never issued incomplete; `errors` names each missing field."""


def fit_recipient(draft: DocumentDraft, *, customer: Customer, settings: InvoicingSettings) -> None:
    """An invoice whose recipient lacks a name or address becomes a simplified receipt up to
    250 EUR gross; above that, for a pro forma, or when details the operator made mandatory are
    missing, it is held (DocumentHeld) until the details arrive."""
    document = draft.document
    errors = recipient_field_errors(customer=customer, kind=document.kind, settings=settings)
    if not errors:
        return
    # Only a missing name or address falls back to a receipt; details the operator made
    # mandatory (or an invalid VAT ID) hold the invoice whatever its amount.
    only_incomplete = set(errors) <= set(missing_recipient_fields(customer))
    if (
        only_incomplete
        and document.kind == DocumentKind.INVOICE
        and within_simplified_limit(
            gross=document.total_gross, currency=document.currency, on_date=document.issue_date
        )
    ):
        document.kind = DocumentKind.SALES_RECEIPT
        return
    raise DocumentHeld(
        f"Held: {document.total_gross} {document.currency} for {customer} needs an invoice with "
        f"the recipient's details: "
        + " ".join(f"{name}: {message}" for name, message in sorted(errors.items())),
        errors={name: [message] for name, message in sorted(errors.items())},
    )


# --- storing ---------------------------------------------------------------------------------


def store_drafts(
    drafts: Sequence[DocumentDraft], *, billing_run: BillingRun | None = None
) -> list[Document]:
    """Store composed drafts with their lines and session links, then number and issue them.

    Must run inside the issuing transaction: the numbers are taken at the very end, so the
    series stays locked only for the last statement before commit.
    """
    if not drafts:
        return []
    for draft in drafts:
        issue_hooks.prepare(draft)
    documents = [d.document for d in drafts]
    for document in documents:
        document.billing_run = billing_run
    # COPY: Django's bulk INSERT spent most of its time quoting each value in Python.
    insert_models(documents)
    lines = []
    for draft in drafts:
        for line in draft.lines:
            line.document = draft.document
            lines.append(line)
    insert_models(lines)
    _link_sessions(drafts)
    ensure_series(operator=documents[0].operator)
    by_kind: dict[tuple[str, date], list[int]] = {}
    for document in documents:
        by_kind.setdefault((document.kind, document.issue_date), []).append(document.pk)
    issued_at = timezone.now()
    by_id = {document.pk: document for document in documents}
    for kind, issue_date in sorted(by_kind):
        series = open_series(operator_id=documents[0].operator_id, kind=kind, issue_date=issue_date)
        ids = by_kind[(kind, issue_date)]
        numbers = issue_drafts(series_id=series.pk, document_ids=ids, issued_at=issued_at)
        for document_id, display_number in zip(sorted(ids), numbers, strict=True):
            document = by_id[document_id]
            document.display_number = display_number
            document.status = DocumentStatus.ISSUED
            document.issued_at = issued_at
    issue_hooks.attach(drafts)
    _settle_zero_totals(documents)
    webhooks.emit(operator=documents[0].operator_id, event="invoice.issued", objects=documents)
    documents_issued.send(sender=Document, document_ids=[document.pk for document in documents])
    return documents


def _settle_zero_totals(documents: Sequence[Document]) -> None:
    """A document for nothing to pay (a free session) or for a session paid on the spot (a
    walk-in driver's receipt) is settled when it is issued: it asks for no payment and never
    falls overdue."""
    # A card-terminal receipt is paid by its capture's allocation in the ledger instead.
    free = [
        d.pk
        for d in documents
        if d.kind != DocumentKind.CREDIT_NOTE
        and not d.card_payment
        and (d.total_gross == 0 or d.customer.kind in PAID_ON_THE_SPOT)
    ]
    for document in documents:
        if document.pk in free:
            document.status = DocumentStatus.PAID
            document.paid_on = document.issue_date
    if free:
        Document.objects.filter(pk__in=free, status=DocumentStatus.ISSUED).update(
            status=DocumentStatus.PAID, paid_on=F("issue_date")
        )


def _link_sessions(drafts: Sequence[DocumentDraft]) -> None:
    """One BilledSession row per billed session; on PostgreSQL three arrays, not model objects."""
    if connection.vendor != "postgresql":
        BilledSession.objects.bulk_create(
            [
                BilledSession(document=d.document, session_id=s, document_kind=d.document.kind)
                for d in drafts
                for s in d.session_ids
            ],
            batch_size=5000,
        )
        return
    documents, sessions, kinds = [], [], []
    for draft in drafts:
        documents.extend([draft.document.pk] * len(draft.session_ids))
        sessions.extend(draft.session_ids)
        kinds.extend([draft.document.kind] * len(draft.session_ids))
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO invoicing_billedsession (document_id, session_id, document_kind, "
            "is_reversed) SELECT d, s, k, false FROM unnest(%s::bigint[], %s::bigint[], "
            "%s::varchar[]) AS t(d, s, k)",
            [documents, sessions, kinds],
        )


# --- reading sessions for documents ---------------------------------------------------------


def session_facts(session_ids: Iterable[int]) -> dict[int, SessionFacts]:
    rows = ChargingSession.objects.filter(pk__in=list(session_ids)).values_list(
        "id", "started_at", "ended_at", "energy_kwh", "evse__location__country", "currency"
    )
    return {row[0]: SessionFacts(*row) for row in rows}


def charge_groups(
    session_ids: Sequence[int], *, per_session: bool = False, per_customer: bool = False
) -> list[ChargeGroup]:
    """Charge lines summed per component, unit price and VAT category, per place and local day
    of supply (the tax rules decide the rate from them), and per session or customer when asked
    (the sums are exact: the database adds decimals)."""
    keys = [
        "component",
        "unit",
        "unit_price",
        "vat_category",
        "vat_rate",
        "session__evse__location__country",
        "session__evse__location__time_zone",
        "session__ended_at",
    ]
    if per_session:
        keys.append("session_id")
    if per_customer:
        keys.append("session__customer_id")
    rows = (
        SessionChargeLine.objects.filter(session_id__in=id_set(session_ids))
        .values(*keys)
        .annotate(total_quantity=Sum("quantity"), total_net=Sum("net"))
        .order_by()
    )
    return [
        ChargeGroup(
            component=row["component"],
            unit=row["unit"],
            unit_price=row["unit_price"],
            vat_category=row["vat_category"],
            vat_rate=row["vat_rate"],
            quantity=row["total_quantity"],
            net=row["total_net"],
            session_id=row.get("session_id"),
            customer_id=row.get("session__customer_id"),
            country=row["session__evse__location__country"],
            ended_on=local_date(
                row["session__ended_at"], row["session__evse__location__time_zone"]
            ),
        )
        for row in rows
    ]


# --- per-session issuing ---------------------------------------------------------------------


def sessions_due_per_session(*, operator: Operator) -> Q:
    """Filter on ChargingSession for completed sessions due for a document (decided when they
    were stored) whose customer is billed per session."""
    settings = operator.invoicing_settings
    customers = customers_on_schedule(
        settings=settings, schedule=InvoicingSettings.IssuingSchedule.PER_SESSION
    )
    return Q(
        operator=operator,
        status=ChargingSession.Status.COMPLETED,
        priced_at__isnull=False,
        issuing_due=True,
        customer__in=Customer.objects.filter(customers, operator=operator),
    )


def issue_session_documents(
    *, session_ids: Iterable[int], issue_date: date | None = None
) -> list[Document]:
    """Issue each completed session's own document when its customer is billed per session.

    Sessions already on a document, sessions of monthly or collect-only customers and sessions
    that need no document (now, or as decided when they were stored) are skipped, so running
    this twice issues nothing twice.
    """
    sessions = (
        never_billed(
            ChargingSession.objects.filter(
                pk__in=list(session_ids),
                status=ChargingSession.Status.COMPLETED,
                priced_at__isnull=False,
                issuing_due=True,
            )
        )
        .select_related("customer", "operator__invoicing_settings")
        .order_by("ended_at", "id")
    )
    issued = []
    # Read once for all these sessions, not once per document.
    tax_table = load_table()
    registrations: dict[int, dict[str, str]] = {}
    for session in sessions:
        settings = session.operator.invoicing_settings
        customer = session.customer
        if (
            issuing_schedule_of(customer=customer, settings=settings)
            != InvoicingSettings.IssuingSchedule.PER_SESSION
        ):
            continue
        kind = document_kind_for(customer=customer, settings=settings)
        if kind is None:
            continue
        try:
            if session.operator_id not in registrations:
                registrations[session.operator_id] = vat_registrations(session.operator)
            document = _issue_for_sessions(
                kind=kind,
                origin=DocumentOrigin.PER_SESSION,
                customer=customer,
                settings=settings,
                session_ids=[session.pk],
                issue_date=issue_date or today_for(session.operator),
                tax_table=tax_table,
                registrations=registrations[session.operator_id],
            )
        except InvoicingError as exc:
            logger.warning("Session %s stays unbilled: %s", session, exc)
            hold_session(session, exc)
            continue
        if document is not None:
            issued.append(document)
    if issued:  # sessions held before and issued now leave the staff's list, in one query
        HeldSession.objects.filter(
            session__in=BilledSession.objects.filter(document__in=issued).values("session_id")
        ).delete()
    return issued


def hold_session(session: ChargingSession, error: InvoicingError) -> HeldSession:
    """Record why a session's own document was not issued, for staff (the hourly task retries)."""
    held, _created = HeldSession.objects.update_or_create(
        session=session,
        defaults={
            "customer_id": session.customer_id,
            "message": str(error),
            "failed_rules": list(error.failed_rules),
        },
    )
    return held


def bill_sessions(*, session_ids: Iterable[int], issue_date: date | None = None) -> list[Document]:
    """Bill, on request, sessions on no live document: credited ones left without a replacement,
    and per-session ones held for missing details; one document per customer. A held document
    raises DocumentHeld naming the missing fields."""
    sessions = list(
        ChargingSession.objects.filter(pk__in=list(session_ids))
        .select_related("customer", "operator__invoicing_settings")
        .order_by("customer_id", "ended_at", "id")
    )
    by_customer: dict[int, list[ChargingSession]] = {}
    for session in sessions:
        if session.status != ChargingSession.Status.COMPLETED or session.priced_at is None:
            raise InvoicingError(f"Session {session} is not completed and priced yet.")
        by_customer.setdefault(session.customer_id, []).append(session)
    live = set(
        billed(ChargingSession.objects.filter(pk__in=[s.pk for s in sessions])).values_list(
            "pk", flat=True
        )
    )
    credited = set(
        BilledSession.objects.filter(session_id__in=[s.pk for s in sessions]).values_list(
            "session_id", flat=True
        )
    )
    issued = []
    for customer_sessions in by_customer.values():
        customer = customer_sessions[0].customer
        settings = customer_sessions[0].operator.invoicing_settings
        for session in customer_sessions:
            if session.pk in live:
                raise InvoicingError(f"Session {session} is already billed; credit it first.")
            if session.pk not in credited and (
                issuing_schedule_of(customer=customer, settings=settings)
                != InvoicingSettings.IssuingSchedule.PER_SESSION
            ):
                raise InvoicingError(
                    f"Session {session} was never billed; its customer's monthly run bills it."
                )
        kind = document_kind_for(customer=customer, settings=settings)
        if kind is None:
            raise InvoicingError(f"{customer} gets no documents under the operator's settings.")
        ids = [s.pk for s in customer_sessions]
        document = _issue_for_sessions(
            kind=kind,
            origin=DocumentOrigin.CORRECTION if credited & set(ids) else DocumentOrigin.PER_SESSION,
            customer=customer,
            settings=settings,
            session_ids=ids,
            issue_date=issue_date or today_for(customer_sessions[0].operator),
            per_session_lines=len(ids) == 1,
        )
        if document is None:
            raise InvoicingError("These sessions were billed meanwhile; nothing was issued.")
        issued.append(document)
    return issued


def _issue_for_sessions(
    *,
    kind: str,
    origin: str,
    customer: Customer,
    settings: InvoicingSettings,
    session_ids: Sequence[int],
    issue_date: date,
    period: tuple[date, date] | None = None,
    per_session_lines: bool = True,
    tax_table: TaxTable | None = None,
    registrations: Mapping[str, str] | None = None,
    card_payment: Mapping[str, object] | None = None,
) -> Document | None:
    """Issue one document for these sessions; None when another process billed them first."""
    try:
        with transaction.atomic():
            facts = session_facts(session_ids)
            draft = compose_document(
                kind=kind,
                origin=origin,
                customer=customer,
                settings=settings,
                profile=profile_for(operator=settings.operator, settings=settings),
                groups=charge_groups(session_ids, per_session=per_session_lines),
                sessions=[facts[i] for i in session_ids],
                issue_date=issue_date,
                period=period,
                tax_table=tax_table,
                registrations=registrations,
            )
            fit_recipient(draft, customer=customer, settings=settings)
            if card_payment:
                draft.document.card_payment = dict(card_payment)
            (document,) = store_drafts([draft])
    except IntegrityError:
        # The unique (session, kind) constraint: a concurrent task billed these sessions.
        if billed(ChargingSession.objects.filter(pk__in=session_ids)).exists():
            return None
        raise
    document.refresh_from_db()
    return document


# --- corrections -----------------------------------------------------------------------------


def issue_credit_note(
    *,
    document: Document,
    reason: str,
    reissue: bool = False,
    reprice: bool = False,
    issue_date: date | None = None,
) -> tuple[Document, Document | None]:
    """Cancel an issued document with a credit note that negates every line; optionally issue
    a replacement for the same sessions with today's customer details, re-priced (`reprice`)
    under the tariff as it stands now and today's tax rules. Returns both."""
    reason = (reason or "").strip()
    if reprice and not reissue:
        raise InvoicingError(
            "Re-pricing applies to the replacement; ask for a replacement too, or bill the "
            "credited sessions again later.",
            field="reprice",
        )
    with transaction.atomic():
        original = (
            Document.objects.select_for_update(of=("self",))
            .select_related("operator__invoicing_settings", "customer", "profile")
            .get(pk=document.pk)
        )
        require_action(original, CREDIT)
        if not reason:
            raise InvoicingError("A credit note needs a reason (it is printed on the document).")
        issue_date = issue_date or today_for(original.operator)
        draft = compose_credit_note(
            original=original, reason=reason, issue_date=issue_date, profile=original.profile
        )
        (credit_note,) = store_drafts([draft])
        BilledSession.objects.filter(document=original).update(is_reversed=True)
        Document.objects.filter(pk=original.pk).update(status=DocumentStatus.CREDITED)
        webhooks.emit(
            operator=original.operator_id, event="invoice.credited", objects=[original.pk]
        )
        replacement = None
        if reprice:
            for session in ChargingSession.objects.filter(
                billings__document=original
            ).select_related("tariff", "evse__location", "operator"):
                try:
                    reprice_unbilled_session(session=session, current_tariff=True)
                except PricingError as exc:
                    raise InvoicingError(f"Session {session} cannot be re-priced: {exc}") from exc
        if reissue:
            replacement = _reissue(original=original, issue_date=issue_date)
    credit_note.refresh_from_db()
    return credit_note, replacement


def withdraw_pro_forma(
    *, document: Document, reason: str, withdrawn_by=None, withdrawn_by_name: str = ""
) -> Document:
    """Withdraw a pro forma invoice: no credit note, no VAT consequence; who, when and why are
    recorded and its sessions become billable again."""
    reason = (reason or "").strip()
    with transaction.atomic():
        locked = Document.objects.select_for_update(of=("self",)).get(pk=document.pk)
        require_action(locked, WITHDRAW)
        if not reason:
            raise InvoicingError("Say why the pro forma invoice is withdrawn.", field="reason")
        Document.objects.filter(pk=locked.pk).update(
            status=DocumentStatus.WITHDRAWN,
            withdrawn_at=timezone.now(),
            withdrawn_by=withdrawn_by,
            withdrawn_by_name=withdrawn_by_name
            or getattr(withdrawn_by, "username", "")
            or "system",
            withdrawal_reason=reason,
        )
        BilledSession.objects.filter(document=locked).update(is_reversed=True)
    document.refresh_from_db()
    return document


def _reissue(*, original: Document, issue_date: date) -> Document:
    settings = original.operator.invoicing_settings
    customer = Customer.objects.get(pk=original.customer_id)
    kind = document_kind_for(customer=customer, settings=settings) or original.kind
    session_ids = list(
        original.billed_sessions.order_by("session_id").values_list("session_id", flat=True)
    )
    document = _issue_for_sessions(
        kind=kind,
        origin=DocumentOrigin.CORRECTION,
        customer=customer,
        settings=settings,
        session_ids=session_ids,
        issue_date=issue_date,
        period=(original.period_start, original.period_end),
        per_session_lines=original.origin == DocumentOrigin.PER_SESSION,
    )
    if document is None:
        raise InvoicingError("These sessions were billed again meanwhile; nothing was reissued.")
    return document


def correct_recipient_details(
    *,
    document: Document,
    changes: Mapping[str, str],
    reason: str,
    corrected_by=None,
) -> RecipientCorrection:
    """Fix the recipient block (name, address, VAT ID, e-mail) of an issued document; the old
    and new values, who and why are recorded, and amounts and number stay as issued."""
    unknown = sorted(set(changes) - set(RECIPIENT_FIELDS))
    if unknown:
        raise InvoicingError(f"Only recipient details can be corrected, not: {', '.join(unknown)}.")
    reason = (reason or "").strip()
    if not reason:
        raise InvoicingError("Say why the recipient details are corrected.")
    # Cleaned like the customer's own invoice details (stripped, country in capitals, VAT ID
    # compact).
    as_detail = {name: name.removeprefix("recipient_") for name in changes}
    cleaned = clean_invoice_details({as_detail[name]: value for name, value in changes.items()})
    new = {name: cleaned[as_detail[name]] for name in changes}
    with transaction.atomic():
        locked = (
            Document.objects.select_for_update(of=("self",))
            .select_related("operator__invoicing_settings", "customer")
            .get(pk=document.pk)
        )
        require_action(locked, CORRECT_RECIPIENT)
        problems = _recipient_problems(locked, new)
        if problems:
            raise InvoicingError(" ".join(problems))
        for name, value in new.items():
            field = Document._meta.get_field(name)
            if len(value) > field.max_length:
                raise InvoicingError(
                    f"The {field.verbose_name} may have at most {field.max_length} characters."
                )
        old = {name: getattr(locked, name) for name in new if getattr(locked, name) != new[name]}
        if not old:
            raise InvoicingError("These are already the document's recipient details.")
        new = {name: new[name] for name in old}
        Document.objects.filter(pk=locked.pk).update(**new)
        correction = RecipientCorrection.objects.create(
            document=locked,
            corrected_by=corrected_by,
            corrected_by_name=getattr(corrected_by, "username", "") or "system",
            reason=reason,
            old_values=old,
            new_values=new,
        )
        recipient_corrected.send(sender=Document, document_id=locked.pk)
    document.refresh_from_db()
    return correction


def _recipient_problems(document: Document, new: Mapping[str, str]) -> list[str]:
    """The same checks as the customer's invoice details (by their kind), on changed fields."""
    kind = document.customer.kind
    name_field = "company_name" if kind == Customer.Kind.COMPANY else "name"
    as_detail = {name: name.removeprefix("recipient_") for name in RECIPIENT_FIELDS}
    as_detail["recipient_name"] = name_field
    details = {as_detail[name]: getattr(document, name) for name in RECIPIENT_FIELDS}
    details.update({as_detail[name]: value for name, value in new.items()})
    errors = invoice_detail_errors(
        kind=kind, details=details, settings=document.operator.invoicing_settings
    )
    changed = {as_detail[name] for name in new}
    return [message for detail, message in sorted(errors.items()) if detail in changed]


# --- payments and due dates ------------------------------------------------------------------


def mark_overdue_documents(*, today: date | None = None) -> int:
    """Issued documents still unpaid after their due date (in the operator's time zone) become
    overdue; returns how many."""
    marked = 0
    for operator in Operator.objects.all():
        with transaction.atomic():
            # Locked first, so a payment committing meanwhile is neither overwritten nor
            # announced as overdue.
            due = list(
                Document.objects.select_for_update()
                .filter(
                    operator=operator,
                    status=DocumentStatus.ISSUED,
                    due_date__lt=today or today_for(operator),
                    total_gross__gt=0,
                )
                .values_list("pk", flat=True)
            )
            if not due:
                continue
            marked += Document.objects.filter(pk__in=due).update(status=DocumentStatus.OVERDUE)
            webhooks.emit(operator=operator, event="invoice.overdue", objects=due)
    return marked
