"""Registering terminals: the EVSEs they serve must be the operator's own."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import transaction

from cpo_portal.kernel.errors import InvalidInput
from invoicing.terminals.models import Terminal
from sessions.models import EVSE


def save_terminal(*, operator, data: Any) -> tuple[Terminal, bool]:
    """Create or update a terminal by its id; returns it and whether it is new."""
    if not isinstance(data, dict):
        raise InvalidInput("The terminal must be a JSON object.")
    errors: dict[str, list[str]] = {}
    terminal_id = str(data.get("terminal_id") or "").strip()
    if not terminal_id or len(terminal_id) > 64:
        errors["terminal_id"] = ["This field is required (64 characters at most)."]
    vendor = str(data.get("vendor") or "").strip()
    if not vendor:
        errors["vendor"] = ["This field is required."]
    zone = str(data.get("time_zone") or "UTC")
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        errors["time_zone"] = ["An IANA time zone, e.g. Europe/Berlin."]
    evse_ids = data.get("evse_ids")
    evses = []
    if (
        not isinstance(evse_ids, list)
        or not evse_ids
        or not all(isinstance(e, str) for e in evse_ids)
    ):
        errors["evse_ids"] = ["The EVSE IDs this terminal serves (at least one)."]
    else:
        evses = list(EVSE.objects.filter(location__operator=operator, evse_id__in=evse_ids))
        unknown = sorted(set(map(str, evse_ids)) - {e.evse_id for e in evses})
        if unknown:
            errors["evse_ids"] = [f"Unknown EVSE: {', '.join(unknown)}."]
    if errors:
        raise InvalidInput(errors=errors)
    with transaction.atomic():
        terminal = Terminal.objects.filter(terminal_id=terminal_id).first()
        if terminal is not None and terminal.operator_id != operator.pk:
            raise InvalidInput("This terminal id is taken.", field="terminal_id")
        created = terminal is None
        terminal = terminal or Terminal(operator=operator, terminal_id=terminal_id)
        terminal.vendor = vendor
        terminal.time_zone = zone
        terminal.save()
        terminal.evses.set(evses)
    return terminal, created
