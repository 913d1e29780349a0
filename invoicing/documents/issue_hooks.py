"""What a layer above documents adds to every issue: a check of each draft before it is stored,
and files written once the documents have their numbers (inside the issuing transaction).

E-invoices (invoicing/einvoices) build and validate the XML of a draft here, so a document whose
XML fails is never issued, whichever path issues it (billing run, per-session, credit note).
Invoicing registers the hook when it is ready; without one, drafts are issued as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from invoicing.documents.composition import DocumentDraft


class IssueHook(Protocol):
    def prepare(self, draft: DocumentDraft) -> None:
        """Raise InvoicingError when the draft must not be issued; may keep work on the draft."""

    def attach(self, drafts: Sequence[DocumentDraft]) -> None:
        """Store what belongs to the numbered documents (same transaction as the issue)."""


_hooks: list[IssueHook] = []


def register(hook: IssueHook) -> None:
    """Install a hook once (registering the same hook again changes nothing)."""
    if hook not in _hooks:
        _hooks.append(hook)


def prepare(draft: DocumentDraft) -> None:
    """Run every hook's check on a draft once (a billing run checks before storing)."""
    if draft.prepared:
        return
    for hook in _hooks:
        hook.prepare(draft)
    draft.prepared = True


def attach(drafts: Sequence[DocumentDraft]) -> None:
    for hook in _hooks:
        hook.attach(drafts)
