"""Long lists rendered by DRF's own fields, without DRF's per-field machinery.

A page of 500 documents spent half its time in `Serializer.to_representation`: for every field
of every row a source lookup through a generic attribute walk, a generator step and a SkipField
check. `CompiledListSerializer` works out once per response how each field of the row
serializer reads its value, then applies that to every row. The values are still formatted by
the same field objects (decimal places, dates, UTC times), so the JSON is DRF's to the byte;
tests/cpo_portal/kernel/api/test_lists.py compares the two.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.db import models
from rest_framework import serializers
from rest_framework.fields import SkipField, is_simple_callable
from rest_framework.relations import PKOnlyObject

Render = Callable[[Any], Any]


class CompiledListSerializer(serializers.ListSerializer):
    """`many=True` of a row serializer, rendered by a plan made once per response."""

    def to_representation(self, data):
        rows = data.all() if isinstance(data, models.manager.BaseManager) else data
        render = _row_renderer(self.child)
        return [render(row) for row in rows]


def _row_renderer(serializer: serializers.Serializer) -> Render:
    plan = [(f.field_name, _field_renderer(f)) for f in serializer._readable_fields]

    def render(row):
        try:
            return {name: render_field(row) for name, render_field in plan}
        except (SkipField, KeyError, AttributeError, ObjectDoesNotExist):
            # A value is missing: DRF decides (leaves the field out, takes its default, or
            # raises its own error), exactly as without the plan.
            return serializer.to_representation(row)

    return render


def _field_renderer(field: serializers.Field) -> Render:
    """How DRF would render this field of a row: its value, None as None, else formatted."""
    if isinstance(field, serializers.SerializerMethodField):
        return getattr(field.parent, field.method_name)
    if field.source == "*" and isinstance(field, serializers.Serializer):
        return _row_renderer(field)
    read = _reader(field.source_attrs)
    if isinstance(field, serializers.ListSerializer) and isinstance(
        field.child, serializers.Serializer
    ):
        item = _row_renderer(field.child)

        def render_items(row):
            value = read(row)
            if value is None:
                return None
            if isinstance(value, models.manager.BaseManager):
                value = value.all()
            return [item(element) for element in value]

        return render_items
    if isinstance(field, serializers.Serializer):
        nested = _row_renderer(field)

        def render_nested(row):
            value = read(row)
            return None if value is None else nested(value)

        return render_nested
    if isinstance(field, serializers.BaseSerializer | serializers.RelatedField):
        return _as_drf_does(field)
    represent = field.to_representation

    def render_value(row):
        value = read(row)
        return None if value is None else represent(value)

    return render_value


def _reader(names: list[str]) -> Render:
    """The value at a field's source (`evse.location`), attribute by attribute or key by key
    (JSON rows such as the VAT summary), as DRF reads it: a method is called. A missing step
    or another kind of mapping raises here, and the row goes DRF's own way."""

    def read(row):
        value = row
        for name in names:
            value = value[name] if isinstance(value, dict) else getattr(value, name)
            if is_simple_callable(value):
                value = value()
        return value

    return read


def _as_drf_does(field: serializers.Field) -> Render:
    def render(row):
        value = field.get_attribute(row)
        empty = value.pk is None if isinstance(value, PKOnlyObject) else value is None
        return None if empty else field.to_representation(value)

    return render
