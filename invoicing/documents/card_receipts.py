"""The receipt of a session paid at a card terminal: a sales receipt (simplified up to 250 EUR
under the tax rules) issued when the capture is matched to the session, carrying the card
payment's facts as they were at that moment."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from django.db import transaction

from cpo_portal.kernel.periods import today_for
from customers.models import Customer
from invoicing.documents.composition import InvoicingError
from invoicing.documents.issuing import _issue_for_sessions, issue_credit_note
from invoicing.documents.models import (
    BilledSession,
    Document,
    DocumentKind,
    DocumentOrigin,
    DocumentStatus,
)
from sessions.models import ChargingSession

__all__ = [
    "CARD_FIELDS",
    "cancel_card_receipt",
    "card_receipt_facts",
    "card_receipt_of",
    "find_card_receipt",
    "issue_card_invoice",
    "issue_card_receipt",
    "live_document_of",
]

# What a card-terminal match announces about the payment (JSON-safe strings).
CARD_FIELDS = ("brand", "last4", "authorization_code", "terminal_id", "at", "amount", "currency")


def live_document_of(session_id: int) -> Document | None:
    """The session's live (not credited) invoice, pro forma or receipt, if any."""
    billing = (
        BilledSession.objects.filter(session_id=session_id, is_reversed=False)
        .exclude(document_kind=DocumentKind.CREDIT_NOTE)
        .select_related("document")
        .first()
    )
    return billing.document if billing else None


def card_receipt_of(*, session_id: int, transaction_id: int | None = None) -> Document | None:
    """The session's live receipt issued for a card payment (for that capture, when given)."""
    document = live_document_of(session_id)
    if document is None or not document.card_payment:
        return None
    if transaction_id is not None and document.card_payment.get("transaction_id") != transaction_id:
        return None
    return document


def card_receipt_facts(
    session: ChargingSession, *, transaction_id: int, card_payment: Mapping[str, object]
) -> dict:
    """The card payment and the session as printed on the receipt, frozen as strings: start
    and end in the location's local time."""
    location = session.evse.location
    zone = ZoneInfo(location.time_zone)
    facts = {name: str(card_payment.get(name) or "") for name in CARD_FIELDS}
    facts.update(
        transaction_id=transaction_id,
        session_id=session.pk,
        location=location.name,
        address=f"{location.street}, {location.postal_code} {location.city}",
        evse_id=session.evse.evse_id,
        time_zone=location.time_zone,
        started=session.started_at.astimezone(zone).isoformat(),
        ended=session.ended_at.astimezone(zone).isoformat() if session.ended_at else "",
        energy_kwh=str(session.energy_kwh),
    )
    return facts


def issue_card_receipt(
    *, session_id: int, transaction_id: int, card_payment: Mapping[str, object]
) -> Document:
    """Issue the session's card receipt once: running it again returns the same receipt; a
    receipt issued for the session before the card payment was matched (or for another
    capture) is credited and replaced."""
    with transaction.atomic():
        session = (
            ChargingSession.objects.select_for_update(of=("self",))
            .select_related("evse__location", "customer", "operator__invoicing_settings")
            .get(pk=session_id)
        )
        existing = live_document_of(session.pk)
        if existing is not None:
            if existing.card_payment.get("transaction_id") == transaction_id:
                return existing
            issue_credit_note(
                document=existing, reason="Replaced by the receipt of the card payment."
            )
        if session.status != ChargingSession.Status.COMPLETED or session.priced_at is None:
            raise InvoicingError(f"Session {session} is not completed and priced yet.")
        settings = session.operator.invoicing_settings
        document = _issue_for_sessions(
            kind=DocumentKind.SALES_RECEIPT,
            origin=DocumentOrigin.PER_SESSION,
            customer=session.customer,
            settings=settings,
            session_ids=[session.pk],
            issue_date=today_for(session.operator),
            card_payment=card_receipt_facts(
                session, transaction_id=transaction_id, card_payment=card_payment
            ),
        )
        if document is None:
            raise InvoicingError(f"Session {session} was billed meanwhile.")
        return document


def cancel_card_receipt(*, session_id: int, transaction_id: int, reason: str) -> Document | None:
    """Credit the session's receipt of this capture (the match was undone or moved); returns
    the credit note, or None when there is no such live receipt (undoing twice credits once)."""
    with transaction.atomic():
        ChargingSession.objects.select_for_update().filter(pk=session_id).first()
        receipt = card_receipt_of(session_id=session_id, transaction_id=transaction_id)
        if receipt is None:
            return None
        credit_note, _replacement = issue_credit_note(document=receipt, reason=reason)
        return credit_note


def issue_card_invoice(*, receipt: Document, customer: Customer) -> Document:
    """Replace a card receipt by a full invoice to the business that paid it: the receipt is
    credited and the invoice, carrying the same card payment, issued in the invoice series."""
    with transaction.atomic():
        session_id = receipt.card_payment["session_id"]
        ChargingSession.objects.select_for_update().filter(pk=session_id).first()
        issue_credit_note(document=receipt, reason="Replaced by an invoice to the business.")
        settings = receipt.operator.invoicing_settings
        document = _issue_for_sessions(
            kind=DocumentKind.INVOICE,
            origin=DocumentOrigin.CORRECTION,
            customer=customer,
            settings=settings,
            session_ids=[session_id],
            issue_date=today_for(receipt.operator),
            card_payment=receipt.card_payment,
        )
        if document is None:
            raise InvoicingError("This session was billed meanwhile.")
        return document


def find_card_receipt(*, on: date, evse_id: str, last4: str, amount: Decimal) -> Document | None:
    """The one live card receipt (or the invoice that replaced it) of a session that ended on
    that local day at that charge point, paid with that card for exactly that amount; None
    when there is none or more than one (a guess must never land on someone else's)."""
    if not (evse_id and len(last4) == 4 and last4.isdigit()):
        return None
    candidates = Document.objects.filter(
        status__in=(DocumentStatus.ISSUED, DocumentStatus.PAID),
        card_payment__evse_id=evse_id,
        card_payment__last4=last4,
        card_payment__ended__startswith=on.isoformat(),
    ).exclude(kind=DocumentKind.CREDIT_NOTE)
    found = []
    for document in candidates[:10]:
        try:
            paid = Decimal(document.card_payment["amount"])
        except (InvalidOperation, KeyError):
            continue
        if paid == amount:
            found.append(document)
    return found[0] if len(found) == 1 else None
