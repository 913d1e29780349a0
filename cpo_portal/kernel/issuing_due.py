"""Whether a session is due for a document, decided by invoicing when sessions are stored.

Ingest (sessions) records the decision with each completed session so a later change of the
operator's settings never bills what was decided not to be; the rule lives in invoicing, which
the sessions layer must not import. Invoicing registers it here when it is ready; without it no
session is due.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# customer -> whether its completed session gets a document (per session or monthly).
DueRule = Callable[[Any], bool]

_loader: Callable[[Any], DueRule] | None = None


def register_issuing_due(loader: Callable[[Any], DueRule]) -> None:
    """Install the loader that reads an operator's settings once and returns its rule."""
    global _loader
    _loader = loader


def issuing_due_rule(operator: Any) -> DueRule:
    """The operator's rule as its settings stand now, read once for a batch of sessions."""
    if _loader is None:
        return lambda _customer: False
    return _loader(operator)
