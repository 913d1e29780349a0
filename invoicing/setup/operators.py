"""Setting up an operator for invoicing: its settings and one numbering series per kind."""

from __future__ import annotations

from django.db import transaction

from cpo_portal.kernel.tenancy import Operator
from invoicing.setup.models import (
    DEFAULT_PREFIXES,
    DocumentKind,
    InvoicingSettings,
    NumberingSeries,
)

__all__ = ["ensure_series", "set_up_operator"]


def ensure_series(*, operator: Operator) -> dict[str, NumberingSeries]:
    """The operator's series for every document kind, created with default prefixes if missing."""
    series = {s.kind: s for s in NumberingSeries.objects.filter(operator=operator, closed_at=None)}
    for kind in DocumentKind:
        if kind not in series:
            series[kind], _created = NumberingSeries.objects.get_or_create(
                operator=operator,
                kind=kind,
                closed_at=None,
                defaults={"prefix": DEFAULT_PREFIXES[kind]},
            )
    return series


def set_up_operator(*, operator: Operator) -> InvoicingSettings:
    """Give an operator what documents need: invoicing settings (the defaults unless it has
    some) and a numbering series for every document kind. Running it again changes nothing."""
    with transaction.atomic():
        settings, _created = InvoicingSettings.objects.get_or_create(operator=operator)
        ensure_series(operator=operator)
    return settings
