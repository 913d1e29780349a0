"""Long lists are rendered by a plan made once per response: the JSON stays DRF's own."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from rest_framework import serializers

from cpo_portal.kernel.api.lists import CompiledListSerializer


class Line(serializers.Serializer):
    rate = serializers.DecimalField(max_digits=5, decimal_places=2)
    note = serializers.CharField(required=False)


class Address(serializers.Serializer):
    city = serializers.CharField(source="town")


class Row(serializers.Serializer):
    id = serializers.IntegerField()
    total = serializers.DecimalField(max_digits=14, decimal_places=2)
    due = serializers.DateField(allow_null=True)
    at = serializers.DateTimeField()
    shout = serializers.CharField(source="loud")
    address = Address(source="*")
    lines = Line(many=True)
    label = serializers.SerializerMethodField()

    class Meta:
        list_serializer_class = CompiledListSerializer

    def get_label(self, row) -> str:
        return f"#{row.id}"


class Thing:
    def __init__(self, id, total, due, lines):
        self.id, self.total, self.due, self.lines = id, total, due, lines
        self.at = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
        self.town = "Köln"

    def loud(self) -> str:
        return "HELLO"  # a method: DRF calls it


def test_a_compiled_list_renders_each_row_as_drf_renders_it_alone():
    things = [
        Thing(1, Decimal("5"), date(2026, 4, 1), [{"rate": "19", "note": "a"}]),
        Thing(2, Decimal("0.1"), None, []),
        # A dict row without its optional key: DRF leaves the field out.
        Thing(3, Decimal("-12.345"), date(2026, 4, 2), [{"rate": Decimal("7")}]),
    ]

    listed = Row(things, many=True).data

    assert isinstance(Row(many=True), CompiledListSerializer)
    assert listed == [Row(thing).data for thing in things]
    assert listed[2] == {
        "id": 3,
        "total": "-12.34",
        "due": "2026-04-02",
        "at": "2026-03-01T09:30:00Z",
        "shout": "HELLO",
        "address": {"city": "Köln"},
        "lines": [{"rate": "7.00"}],
        "label": "#3",
    }
