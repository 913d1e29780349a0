"""Admin lists over millions of rows: a paginator that does not count them all on every page,
and list filters that build their choices without scanning the listed table.

Used by the document and session admins; see docs/operations.md ("Admin lists at scale").

- `EstimatedCountPaginator` counts exactly when that is cheap, and otherwise, on PostgreSQL,
  takes the planner's row estimate (the pagination then says "about N").
- `DateRangeFilter` filters a date or date-time field by an inclusive from/to date range (two
  date inputs and a few quick links); it never queries to show itself.
- `RelatedAutocompleteFilter` filters by one related object picked in the admin's own
  autocomplete box (select2), instead of one link per object.
- `distinct_values` lists the values of an indexed column with one index probe per value.
- `UnitedSearch` searches a list by uniting the ids its index probes find.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta

from django import forms
from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.widgets import AutocompleteSelect
from django.core.exceptions import EmptyResultSet, ValidationError
from django.core.paginator import Paginator
from django.db import OperationalError, connections, models, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _

QUERY_CANCELED = "57014"  # PostgreSQL's SQLSTATE for a statement cancelled by its timeout


# --- searching -----------------------------------------------------------------------------


class UnitedSearch:
    """An admin's search as index probes united (`UNION`) before the list is read: Django's
    default (every word anywhere in every field, OR-ed across joins) scans the whole table."""

    # The list's rows whose field is among the ids the probes find.
    united_search_field = "pk"

    def search_probes(self, term: str) -> QuerySet:
        """The ids matching the whole (stripped) term, one `values()` query per index probe."""
        raise NotImplementedError

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        found = self.search_probes(term)
        return queryset.filter(**{f"{self.united_search_field}__in": found}), False


# --- counting ------------------------------------------------------------------------------


class EstimatedCountPaginator(Paginator):
    """Exact counts when they are cheap; the PostgreSQL planner's estimate when they are not.

    On PostgreSQL one EXPLAIN gives the planner's row estimate and cost of the filtered list.
    When it expects at most `exact_up_to` rows at a cost of at most `exact_cost_up_to` (a page
    read costs 1), the list is counted exactly, under a statement timeout of `count_timeout_ms`
    (estimates can be far off). Otherwise, or when the count runs out of time, the estimate is
    the count and `count_is_estimate` is set, so that the list says "about". Other databases
    (SQLite in development) always count exactly.
    """

    exact_up_to = 50_000
    exact_cost_up_to = 30_000
    count_timeout_ms = 100

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.count_is_estimate = False

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if not isinstance(queryset, QuerySet) or connections[queryset.db].vendor != "postgresql":
            return super().count
        try:
            rows, cost = planner_estimate(queryset)
        except EmptyResultSet:
            return 0
        # A handful of rows is counted even when finding them is costly: a list the planner
        # thinks fits on one page is shown without LIMIT, so it had better be right.
        if rows <= self.exact_up_to and (cost <= self.exact_cost_up_to or rows <= self.per_page):
            exact = count_within(queryset, timeout_ms=self.count_timeout_ms)
            if exact is not None:
                return exact
        self.count_is_estimate = True
        # More than a page, so the list is always fetched a page at a time (LIMIT).
        return max(rows, self.per_page + 1)


def planner_estimate(queryset: QuerySet) -> tuple[int, float]:
    """PostgreSQL's planner's expected rows and total cost of the queryset (one EXPLAIN)."""
    rows = queryset.order_by().values("pk")
    sql, params = rows.query.get_compiler(using=rows.db).as_sql()
    with connections[rows.db].cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        (plan,) = cursor.fetchone()
    if isinstance(plan, str | bytes):
        plan = json.loads(plan)
    top = plan[0]["Plan"]
    return int(top["Plan Rows"]), float(top["Total Cost"])


def count_within(queryset: QuerySet, *, timeout_ms: int) -> int | None:
    """COUNT(*) of the queryset, or None when PostgreSQL cannot finish it within the timeout."""
    using = queryset.db
    try:
        with transaction.atomic(using=using):
            with connections[using].cursor() as cursor:
                # SET LOCAL: the rollback below (or the cancel) takes the timeout away again.
                cursor.execute(
                    "SELECT set_config('statement_timeout', %s, true)", [f"{timeout_ms}ms"]
                )
            count = queryset.count()
            transaction.set_rollback(True, using=using)  # nothing was written
    except OperationalError as exc:
        if getattr(exc.__cause__, "sqlstate", None) == QUERY_CANCELED:
            return None
        raise
    return count


def distinct_values(model: type[models.Model], field_name: str, *, limit: int = 250) -> list:
    """The distinct non-null values of a column, smallest first, with one probe per value.

    A "loose index scan": with an index that starts with the column, each step is one index
    lookup of the next larger value, so 30 countries over a million rows cost 30 lookups
    instead of a DISTINCT over every row.
    """
    connection = connections[model.objects.db]
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    column = quote(model._meta.get_field(field_name).column)
    sql = (
        f"WITH RECURSIVE found (value) AS ("  # noqa: S608 - quoted identifiers, no user input
        f" SELECT MIN({column}) FROM {table}"
        f" UNION ALL"
        f" SELECT (SELECT MIN({column}) FROM {table} WHERE {column} > found.value)"
        f" FROM found WHERE found.value IS NOT NULL"
        f") SELECT value FROM found WHERE value IS NOT NULL LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [limit])
        return [value for (value,) in cursor.fetchall()]


# --- filters -------------------------------------------------------------------------------


def list_filter_media() -> forms.Media:
    return forms.Media(css={"screen": ["cpo_admin/list_filters.css"]})


def hidden_params(changelist, *, without: tuple[str, ...]) -> list[tuple[str, str]]:
    """The list's other query parameters, for a filter's own GET form to keep them."""
    return [(name, value) for name, value in changelist.params.items() if name not in without]


def parse_day(text: str) -> date | None:
    """A day as the date inputs send it (2026-03-01); a date-time (of an older link) gives its
    local day."""
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise IncorrectLookupParameters(exc) from exc
    return timezone.localtime(moment).date() if timezone.is_aware(moment) else moment.date()


class DateRangeFilter(admin.FieldListFilter):
    """From and to dates (both included) for a date or date-time field, plus quick links.

    Shown without a query (unlike `date_hierarchy`, which runs a DISTINCT over the dates of
    the whole list). Date-times are compared with local midnights, so an index on the field
    serves the range.
    """

    template = "admin/filters/date_range.html"

    def __init__(self, field, request, params, model, model_admin, field_path):
        # Named like Django's lookups, so links of its date filter (field__gte/__lt) still work.
        self.parameter_from = f"{field_path}__gte"
        self.parameter_to = f"{field_path}__lte"
        super().__init__(field, request, params, model, model_admin, field_path)

    def expected_parameters(self):
        return [self.parameter_from, self.parameter_to]

    def raw_value(self, parameter: str) -> str:
        value = self.used_parameters.get(parameter)
        if isinstance(value, list):
            value = value[-1] if value else ""
        return (value or "").strip()

    def dates(self) -> tuple[date | None, date | None]:
        names = (self.parameter_from, self.parameter_to)
        return tuple(parse_day(self.raw_value(name)) for name in names)  # type: ignore[return-value]

    def queryset(self, request, queryset):
        start, end = self.dates()
        if start:
            queryset = queryset.filter(**{f"{self.field_path}__gte": self.bound(start)})
        if end:
            queryset = queryset.filter(**{f"{self.field_path}__lt": self.bound(end + timedelta(1))})
        return queryset

    def bound(self, day: date) -> date | datetime:
        """The first moment of a day, as the field compares (local midnight for date-times)."""
        if not isinstance(self.field, models.DateTimeField):
            return day
        moment = datetime.combine(day, time.min)
        return timezone.make_aware(moment) if settings.USE_TZ else moment

    def quick_ranges(self) -> list[tuple[str, date | None, date | None]]:
        today = timezone.localdate()
        first = today.replace(day=1)
        last_month_end = first - timedelta(days=1)
        return [
            (_("Any date"), None, None),
            (_("Today"), today, today),
            (_("Past 7 days"), today - timedelta(days=6), today),
            (_("This month"), first, today),
            (_("Last month"), last_month_end.replace(day=1), last_month_end),
            (_("This year"), today.replace(month=1, day=1), today),
        ]

    def choices(self, changelist):
        names = (self.parameter_from, self.parameter_to)
        self.hidden_params = hidden_params(changelist, without=names)
        self.value_from = self.raw_value(self.parameter_from)
        self.value_to = self.raw_value(self.parameter_to)
        current = (self.value_from, self.value_to)
        for title, start, end in self.quick_ranges():
            values = (start.isoformat() if start else "", end.isoformat() if end else "")
            params = {name: value for name, value in zip(names, values, strict=True) if value}
            yield {
                "selected": current == values,
                "query_string": changelist.get_query_string(params, list(names)),
                "display": title,
            }


class RelatedAutocompleteFilter(admin.ListFilter):
    """Filter by one related object chosen in the admin's autocomplete box (select2 + AJAX).

    Subclasses name the `parameter_name`, the `lookup` on the listed model and the
    `source_field` ("app_label.Model.field", a ForeignKey to the related model) that the
    admin's autocomplete view answers for; the related model's admin needs `search_fields`.
    Showing it costs one query (the chosen object's name), whatever the number of objects.
    """

    template = "admin/filters/autocomplete.html"
    parameter_name: str = ""
    lookup: str = ""
    source_field: str = ""

    def __init__(self, request, params, model, model_admin):
        super().__init__(request, params, model, model_admin)
        if self.parameter_name in params:
            self.used_parameters[self.parameter_name] = params.pop(self.parameter_name)[-1]
        self.admin_site = model_admin.admin_site

    @classmethod
    def media(cls) -> forms.Media:
        # Any ForeignKey gives the widget's files (select2 in the user's language).
        widget = AutocompleteSelect(cls.field(), admin.site)
        return (
            list_filter_media()
            + widget.media
            + forms.Media(js=["admin/js/jquery.init.js", "cpo_admin/autocomplete_filter.js"])
        )

    @classmethod
    def field(cls) -> models.ForeignKey:
        app_label, model_name, field_name = cls.source_field.split(".")
        return apps.get_model(app_label, model_name)._meta.get_field(field_name)

    def value(self) -> str | None:
        return self.used_parameters.get(self.parameter_name) or None

    def expected_parameters(self):
        return [self.parameter_name]

    def has_output(self) -> bool:
        # The autocomplete view answers only users who may view the related objects.
        related_admin = self.admin_site._registry.get(self.field().related_model)
        return related_admin is not None and related_admin.has_view_permission(self.request)

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        try:
            pk = self.field().related_model._meta.pk.to_python(value)
        except ValidationError as exc:
            raise IncorrectLookupParameters(exc) from exc
        return queryset.filter(**{self.lookup: pk})

    def choices(self, changelist):
        self.hidden_params = hidden_params(changelist, without=(self.parameter_name,))
        field = self.field()
        choice = forms.ModelChoiceField(
            queryset=field.related_model._default_manager.all(),
            required=False,
            widget=AutocompleteSelect(
                field,
                self.admin_site,
                attrs={"id": f"filter_{self.parameter_name}", "data-width": "100%"},
            ),
        )
        self.widget_html = choice.widget.render(self.parameter_name, self.value())
        yield {
            "selected": self.value() is None,
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "display": _("All"),
        }
