"""List filters shared by the integrator API: ids, months and instants that are always valid."""

from __future__ import annotations

from datetime import UTC

import django_filters
from django import forms
from django_filters.fields import IsoDateTimeField
from rest_framework.exceptions import ValidationError

from cpo_portal.kernel.periods import parse_period, period_bounds

# Database ids are 64-bit; larger numbers would overflow the query instead of matching nothing.
MAX_ID = 2**63 - 1


class IdField(forms.IntegerField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


class IdFilter(django_filters.NumberFilter):
    """An object id (a positive 64-bit integer)."""

    field_class = IdField


class InstantField(IsoDateTimeField):
    """An ISO 8601 instant that can be compared in the database (year 1 to 9999 in UTC)."""

    def clean(self, value):
        instant = super().clean(value)
        if instant is not None:
            try:
                instant.astimezone(UTC)
            except OverflowError as exc:
                raise forms.ValidationError("Out of range.") from exc
        return instant


class InstantFilter(django_filters.IsoDateTimeFilter):
    field_class = InstantField


class PeriodFilter(django_filters.CharFilter):
    """A month, YYYY-MM, in the operator's time zone (the billing run's months)."""

    def filter(self, qs, value):
        if not value:
            return qs
        period = parse_period(value)  # a refusal names the "period" field: a 400 on it
        if not 1970 <= period.year <= 9998:
            raise ValidationError({"period": ["Use a month between 1970-01 and 9998-12."]})
        operator = self.parent.request.auth.integrator.operator
        start, end, _first, _last = period_bounds(period, operator.time_zone)
        return qs.filter(**{f"{self.field_name}__gte": start, f"{self.field_name}__lt": end})
