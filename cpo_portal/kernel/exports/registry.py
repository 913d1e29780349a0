"""What can be exported: the `Export` base class and the registry of exports by name.

Each app declares its exports beside its resources and registers them from its
AppConfig.ready() (customers/exports.py, sessions/exports.py, invoicing/accounting/exports.py);
the kernel knows none of them. The writers (writers.py), the jobs (jobs.py), the admin
(cpo_portal/kernel/admin/exports.py) and the `export` command find them by name with
`get_export(what)`. The rules are in docs/exports.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, timedelta

from django.db.models import Expression, QuerySet

from cpo_portal.kernel.errors import InvalidInput
from cpo_portal.kernel.exports.columns import Column, ExportResource
from cpo_portal.kernel.exports.models import ExportJob
from cpo_portal.kernel.periods import day_start

# Every export (streamed or queued, admin or API) is guarded by this one permission.
EXPORT_PERMISSION = "invoicing.export_data"
CHUNK_SIZE = 2000


class ExportError(InvalidInput):
    """An export that cannot be made as asked (unknown export or format, bad dates)."""


class Export:
    """One export: the list it is taken from (`source`), its rows and its columns.

    A row is one object of the list unless a subclass says otherwise: override
    `default_queryset` (what "everything" is), `row_queryset` (the rows, for counting them) and
    `rows` (the row objects, read a chunk at a time).
    """

    def __init__(
        self, what: str, source: type, resource: type[ExportResource], date_field: str
    ) -> None:
        self.what = what
        self.source = source
        self.resource = resource
        self.date_field = date_field
        # Values that a layer above contributes to the rows of the list (see `annotate`).
        self.annotations: dict[str, Callable[[], Expression]] = {}

    def __repr__(self) -> str:
        return f"<{self.__class__.__name__} {self.what}>"

    def annotate(self, **factories: Callable[[], Expression]) -> None:
        """Let a layer above add values its columns read (e.g. the invoice that bills a row)."""
        self.annotations.update(factories)

    def columns(self) -> tuple[list[str], list[tuple[Callable[[object], object], Column]]]:
        """The header and, per column, how to read its value and its typed widget."""
        resource = self.resource()
        names, readers = [], []
        for name, field in resource.fields.items():
            # The resource's dehydrate_<name> method if it has one, else the field's attribute.
            dehydrate = getattr(resource, field.get_dehydrate_method(name), None)
            names.append(field.column_name)
            readers.append((dehydrate or field.get_value, field.widget))
        return names, readers

    def default_queryset(self) -> QuerySet:
        """Everything this export covers when no list says otherwise."""
        return self.source._default_manager.all()

    def between(self, queryset: QuerySet, start: date | None, end: date | None) -> QuerySet:
        """Rows whose date (issue date; session end; customer creation) is in [start, end]."""
        field = self.source._meta.get_field(self.date_field)
        is_moment = field.get_internal_type() == "DateTimeField"
        if start is not None:
            low = day_start(start) if is_moment else start
            queryset = queryset.filter(**{f"{self.date_field}__gte": low})
        if end is not None:
            if is_moment:
                queryset = queryset.filter(
                    **{f"{self.date_field}__lt": day_start(end + timedelta(days=1))}
                )
            else:
                queryset = queryset.filter(**{f"{self.date_field}__lte": end})
        return queryset

    def prepare(self, queryset: QuerySet) -> QuerySet:
        """The queryset with what the columns read joined in and annotated."""
        queryset = self.resource.prepare(queryset)
        if self.annotations:
            queryset = queryset.annotate(
                **{name: factory() for name, factory in self.annotations.items()}
            )
        return queryset

    def row_queryset(self, source: QuerySet) -> QuerySet:
        """The rows of the export as a queryset, for counting them."""
        return source

    def rows(self, source: QuerySet) -> Iterator[object]:
        """The objects of the rows, read a chunk at a time (never the whole result at once)."""
        yield from in_chunks(self.prepare(source))


def in_chunks(queryset: QuerySet, size: int | None = None) -> Iterator[object]:
    """The queryset's objects in primary-key order, one query per chunk (keyset pagination)."""
    # Unlike iterator(), no cursor stays open between chunks: PostgreSQL does not materialise
    # the whole result of a WITH HOLD cursor first, and on SQLite the job can store its progress
    # in between (a write from a connection with an open read may be refused there).
    size = size or CHUNK_SIZE
    queryset = queryset.order_by("pk")
    last = None
    while True:
        page = queryset if last is None else queryset.filter(pk__gt=last)
        chunk = list(page[:size])  # prefetch_related lookups run once per chunk
        yield from chunk
        if len(chunk) < size:
            return
        last = chunk[-1].pk


# --- the registry ----------------------------------------------------------------------------

_EXPORTS: dict[str, Export] = {}


def register(export: Export) -> Export:
    """Offer `export` under its name; an app calls this once, from its AppConfig.ready()."""
    known = _EXPORTS.get(export.what)
    if known is not None and known is not export:
        raise ValueError(f"An export called '{export.what}' is registered already: {known!r}.")
    _EXPORTS[export.what] = export
    return export


def registered() -> list[str]:
    """The names of the exports, in the order of `ExportJob.What` (then any others)."""
    order = {what: index for index, what in enumerate(ExportJob.What.values)}
    return sorted(_EXPORTS, key=lambda what: order.get(what, len(order)))


def get_export(what: str) -> Export:
    """The export called `what`, or an ExportError that says which exist."""
    try:
        return _EXPORTS[what]
    except KeyError:
        known = ", ".join(registered())
        raise ExportError(f"There is no export called '{what}'; choose one of {known}.") from None
