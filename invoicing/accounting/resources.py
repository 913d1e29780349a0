"""Export columns of documents and document lines, as django-import-export resources.

A resource is the list of an export's columns: stable name, where the value comes from, and a
typed widget (below) that returns the native value, so numbers stay numbers. Writing the file
(streaming, formula neutralisation) is `invoicing/exports.py`; see docs/exports.md for why.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import OuterRef, QuerySet, Subquery
from import_export import resources, widgets
from import_export.fields import Field

from invoicing.models import BilledSession, Document, DocumentKind

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


# --- documents -------------------------------------------------------------------------------


class DocumentResource(ExportResource):
    """One row per document (invoice, pro forma, sales receipt, credit note)."""

    document_id = column("pk", Integer())
    number = column("display_number")
    kind = column("kind")
    status = column("status")
    origin = column("origin")
    issue_date = column("issue_date", Day())
    due_date = column("due_date", Day())
    period_start = column("period_start", Day())
    period_end = column("period_end", Day())
    operator = column("operator__name")
    customer_id = column("customer_id", Integer())
    recipient_name = column("recipient_name")
    recipient_company_registration_id = column("recipient_company_registration_id")
    recipient_vat_id = column("recipient_vat_id")
    recipient_street = column("recipient_street")
    recipient_postal_code = column("recipient_postal_code")
    recipient_city = column("recipient_city")
    recipient_country = column("recipient_country")
    recipient_email = column("recipient_email")
    currency = column("currency")
    total_net = column("total_net", Money())
    total_vat = column("total_vat", Money())
    total_gross = column("total_gross", Money())
    amount_paid = column("amount_paid", Money())
    amount_due = column(None, Money())
    paid_on = column("paid_on", Day())
    vat_summary = column(None)
    credited_document_number = column("credited_document__display_number")
    session_count = column("session_count", Integer())
    total_energy_kwh = column("total_energy_kwh", Number(3))
    language = column("language")

    @classmethod
    def prepare(cls, queryset):
        return queryset.select_related("operator", "credited_document")

    def dehydrate_amount_due(self, document: Document) -> Decimal:
        if document.kind == DocumentKind.CREDIT_NOTE:
            return Decimal("0.00")  # a credit note is money owed to the customer, not due
        return document.total_gross - document.amount_paid

    def dehydrate_vat_summary(self, document: Document) -> str:
        return "; ".join(
            f"{row.get('rate')} %: net {row.get('net')}, VAT {row.get('vat')}"
            for row in document.vat_summary or []
        )


class DocumentLineResource(ExportResource):
    """One row per document line, with its document's key columns and its session."""

    document_id = column("document_id", Integer())
    document_number = column("document__display_number")
    document_kind = column("document__kind")
    document_status = column("document__status")
    issue_date = column("document__issue_date", Day())
    customer_id = column("document__customer_id", Integer())
    recipient_name = column("document__recipient_name")
    currency = column("document__currency")
    position = column("position", Integer())
    component = column("service")
    description = column("description")
    session_id = column("session_id", Integer())
    session_source = column("session__source")
    session_source_id = column("session__source_id")
    session_started_at_utc = column("session__started_at", Timestamp())
    session_ended_at_utc = column("session__ended_at", Timestamp())
    quantity = column("quantity", Number(3))
    unit = column("unit")
    unit_price = column("unit_price", Number(2, 6))
    net = column("net", Money())
    vat_category = column("vat_category")
    vat_rate = column("vat_rate", Number(2))

    @classmethod
    def prepare(cls, queryset):
        return queryset.select_related("document", "session")


def billing_document_number() -> Subquery:
    """The number of the live document that bills a session (not a credit note), if any."""
    billings = (
        BilledSession.objects.filter(session=OuterRef("pk"), is_reversed=False)
        .exclude(document_kind=DocumentKind.CREDIT_NOTE)
        .order_by("-document_id")
        .values("document__display_number")
    )
    return Subquery(billings[:1])
