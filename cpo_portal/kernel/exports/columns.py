"""Export columns: typed widgets and the `ExportResource` base of every export's columns.

A resource (django-import-export) is the list of an export's columns: stable name, where the
value comes from, and a typed widget (below) that returns the native value, so numbers stay
numbers. Each app declares its resources (customers/resources.py, sessions/resources.py,
invoicing/accounting/resources.py); writing the file is `cpo_portal/kernel/exports/writers.py`.
See docs/exports.md for why.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import reduce

from django.db.models import QuerySet
from import_export import resources, widgets
from import_export.fields import Field

from cpo_portal.kernel.periods import local_time

# --- column types ----------------------------------------------------------------------------


class Column(widgets.Widget):
    """A column's type; `render` returns the native value (None for an empty cell)."""

    kind = "text"
    number_format = "General"

    def __init__(self) -> None:
        super().__init__(coerce_to_string=False)

    def render(self, value, obj=None, **kwargs):
        return value


class Text(Column):
    """Free text: neutralised against formula injection when written."""

    def render(self, value, obj=None, **kwargs):
        return None if value is None else str(value)


class Integer(Column):
    kind = "integer"
    number_format = "0"

    def render(self, value, obj=None, **kwargs):
        return None if value is None else int(value)


class Number(Column):
    """A decimal with `places` decimals, or between `places` and `max_places` (unit prices)."""

    kind = "decimal"

    def __init__(self, places: int = 2, max_places: int | None = None) -> None:
        super().__init__()
        self.places = places
        self.max_places = max_places or places
        self.exponent = Decimal(1).scaleb(-self.max_places)
        extra = "#" * (self.max_places - places)
        self.number_format = f"0.{'0' * places}{extra}" if self.max_places else "0"

    def render(self, value, obj=None, **kwargs):
        if value is None or value == "":
            return None
        return Decimal(value).quantize(self.exponent, rounding=ROUND_HALF_UP)

    def text(self, value: Decimal) -> str:
        """The CSV form: plain digits, a dot, at least `places` decimals, never an exponent."""
        digits = format(self.render(value), "f")
        if self.max_places > self.places:
            whole, _dot, decimals = digits.partition(".")
            decimals = decimals.rstrip("0").ljust(self.places, "0")
            digits = f"{whole}.{decimals}" if decimals else whole
        return digits


class Money(Number):
    """An amount: 2 decimals."""

    def __init__(self) -> None:
        super().__init__(places=2)


class Day(Column):
    kind = "date"
    number_format = "yyyy-mm-dd"

    def render(self, value, obj=None, **kwargs):
        if isinstance(value, datetime):
            return value.date()
        return value if isinstance(value, date) else None


class Timestamp(Column):
    """A moment in UTC (spreadsheets know no time zones), column names end in `_utc`."""

    kind = "datetime"
    number_format = "yyyy-mm-dd hh:mm:ss"

    def render(self, value, obj=None, **kwargs):
        if not isinstance(value, datetime):
            return None
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.replace(microsecond=0)


class LocalTimestamp(Timestamp):
    """A moment on the clock of the row's own time zone (read from `zone`, a__b follows
    relations); column names end in `_location_time` and sit beside the zone's column."""

    def __init__(self, zone: str) -> None:
        super().__init__()
        self.zone = zone.split("__")

    def render(self, value, obj=None, **kwargs):
        if not isinstance(value, datetime) or obj is None:
            return None
        local = local_time(value, reduce(getattr, self.zone, obj))
        return local.replace(tzinfo=None, microsecond=0)


class Boolean(Column):
    kind = "boolean"

    def render(self, value, obj=None, **kwargs):
        return None if value is None else bool(value)


def column(attribute: str | None, widget: Column | None = None) -> Field:
    """A read-only export column taking its value from `attribute` (a__b follows relations)."""
    return Field(attribute=attribute, widget=widget or Text(), readonly=True)


class ExportResource(resources.Resource):
    """An export's columns; the declared field names are the column names (docs/exports.md)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        for name, field in self.fields.items():
            field.column_name = name

    @classmethod
    def prepare(cls, queryset: QuerySet) -> QuerySet:
        """The queryset with what the columns read joined in (one query per chunk of rows)."""
        return queryset
