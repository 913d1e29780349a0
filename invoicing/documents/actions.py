"""Which actions a document's kind and status allow: the one answer for services, admin and API.

The services ask `require_action` on the locked row before they change anything, so a refused
action is a `DocumentActionRefused` (a state conflict: HTTP 409, an admin error message); the
admin shows its buttons and the API its answers from `allowed_actions`.
"""

from __future__ import annotations

from cpo_portal.kernel.errors import StateConflict
from invoicing.documents.models import Document, DocumentStatus
from invoicing.setup.models import DocumentKind

__all__ = [
    "ACTIONS",
    "CORRECT_RECIPIENT",
    "CREDIT",
    "RECORD_PAYMENT",
    "RERENDER",
    "RESEND",
    "WITHDRAW",
    "DocumentActionRefused",
    "allowed_actions",
    "require_action",
]

CREDIT = "credit"
CORRECT_RECIPIENT = "correct_recipient"
RECORD_PAYMENT = "record_payment"
RESEND = "resend"
RERENDER = "rerender"
WITHDRAW = "withdraw"
ACTIONS = (CREDIT, WITHDRAW, CORRECT_RECIPIENT, RECORD_PAYMENT, RESEND, RERENDER)

PAYABLE_STATUSES = (DocumentStatus.ISSUED, DocumentStatus.OVERDUE)


class DocumentActionRefused(StateConflict):
    """The document's kind or status does not allow the action; the message says why."""


def _refusal(document: Document, action: str) -> str | None:
    """Why the document does not allow the action, or None when it does."""
    is_credit_note = document.kind == DocumentKind.CREDIT_NOTE
    is_draft = document.status == DocumentStatus.DRAFT
    if action == CREDIT:
        if is_credit_note:
            return "A credit note cannot be credited; issue a new invoice instead."
        if is_draft:
            return "A draft has no number yet; it is not credited but discarded."
        if document.status == DocumentStatus.CREDITED:
            return f"{document} is already credited."
        if document.kind == DocumentKind.PRO_FORMA:
            return "A pro forma invoice is not a tax document: withdraw it instead of crediting."
    elif action == WITHDRAW:
        if document.kind != DocumentKind.PRO_FORMA:
            return "Only a pro forma invoice is withdrawn; invoices and receipts are credited."
        if is_draft:
            return "A draft has no number yet; it is not withdrawn but discarded."
        if document.status == DocumentStatus.WITHDRAWN:
            return f"{document} is already withdrawn."
        if document.status == DocumentStatus.CREDITED:
            return f"{document} was credited; there is nothing left to withdraw."
    elif action == CORRECT_RECIPIENT:
        if is_draft:
            return "Drafts take the customer's details when they are issued."
    elif action == RECORD_PAYMENT:
        if is_credit_note:
            return "Payments are recorded against invoices, not credit notes."
        if document.status not in PAYABLE_STATUSES:
            return f"{document} is {document.get_status_display().lower()}; no payment is due."
    elif action in (RESEND, RERENDER):
        if is_draft:
            return "A draft has no PDF; it gets one when it is issued."
    else:
        raise ValueError(f"Unknown document action {action!r}; known are {', '.join(ACTIONS)}.")
    return None


def allowed_actions(document: Document) -> set[str]:
    """The actions the document's kind and status allow now."""
    return {action for action in ACTIONS if _refusal(document, action) is None}


def require_action(document: Document, action: str) -> None:
    """Refuse (DocumentActionRefused, a state conflict) an action the document does not allow."""
    refusal = _refusal(document, action)
    if refusal is not None:
        raise DocumentActionRefused(refusal)
