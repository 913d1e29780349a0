"""The sessions-with-breakdown export (docs/exports.md); registered from ChargingConfig.ready()."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import QuerySet

from cpo_portal.kernel.exports.models import ExportJob
from cpo_portal.kernel.exports.registry import Export, in_chunks, register
from sessions.models import ChargingSession, SessionChargeLine
from sessions.resources import SessionBreakdownResource


class SessionBreakdownExport(Export):
    """Sessions of the list, one row per charge line; an unpriced session is one row."""

    def row_queryset(self, source: QuerySet) -> QuerySet:
        # Charge lines; an unpriced session adds one row the estimate leaves out.
        return SessionChargeLine.objects.filter(session__in=source.values("pk"))

    def rows(self, source: QuerySet) -> Iterator[object]:
        for session in in_chunks(self.prepare(source)):
            lines = list(session.charge_lines.all())  # prefetched for the chunk
            for line in lines or [SessionChargeLine(session=session)]:
                line.session = session
                yield line


SESSIONS = register(
    SessionBreakdownExport(
        ExportJob.What.SESSIONS, ChargingSession, SessionBreakdownResource, "ended_at"
    )
)
