"""Which sessions are due for a document: decided when each session is stored, and by staff.

A change of the operator's settings (collect only, "always issue") or of a customer's
schedule applies to sessions stored afterwards; sessions stored before keep their decision, so
an external system's invoices are never doubled by ours.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from cpo_portal.kernel.tenancy import Operator
from customers.models import Customer
from invoicing.documents.composition import document_kind_for
from invoicing.documents.issuing import issue_session_documents
from invoicing.documents.models import Document
from invoicing.documents.selectors import never_billed
from invoicing.setup.models import InvoicingSettings
from sessions.models import ChargingSession


def issuing_due_rule(operator: Operator) -> Callable[[Customer], bool]:
    """A completed session is due when its customer gets a document (its own or the monthly
    one) under the operator's settings now; collect-only or "always issue" off decide no."""
    # Read now, not from a cached relation: the decision follows the settings as they stand.
    settings = InvoicingSettings.objects.get(operator_id=operator.pk)
    return lambda customer: document_kind_for(customer=customer, settings=settings) is not None


def mark_sessions_due(*, operator: Operator, session_ids: Iterable[int]) -> list[Document]:
    """Staff decide that these never-billed sessions get a document after all: per-session
    customers get theirs now, monthly ones on the next run of the month."""
    sessions = never_billed(
        ChargingSession.objects.filter(operator=operator, pk__in=list(session_ids))
    )
    ids = list(sessions.values_list("pk", flat=True))
    ChargingSession.objects.filter(pk__in=ids, issuing_due=False).update(issuing_due=True)
    return issue_session_documents(session_ids=ids)
