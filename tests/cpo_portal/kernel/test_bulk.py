"""Bulk inserts (COPY on PostgreSQL) store exactly what bulk_create would, and fail alike."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from cpo_portal.kernel.bulk import id_set, insert_models, insert_rows
from sessions.models import ChargingSession, Location, SessionChargeLine
from tests.invoicing.helpers import make_priced_session

pytestmark = pytest.mark.django_db


def copy_of(session: ChargingSession, source_id: str) -> ChargingSession:
    fields = {
        f.attname: getattr(session, f.attname)
        for f in ChargingSession._meta.concrete_fields
        if not f.primary_key and f.attname != "received_at"
    }
    return ChargingSession(**{**fields, "source_id": source_id})


def test_new_sessions_get_ids_and_keep_every_value(operator):
    original = make_priced_session(operator, None)
    copies = [copy_of(original, "COPY-1"), copy_of(original, "COPY-2")]

    insert_models(copies)

    assert all(c.pk and not c._state.adding for c in copies)
    stored = ChargingSession.objects.get(pk=copies[1].pk)
    for field in ChargingSession._meta.concrete_fields:
        if field.attname not in ("id", "source_id", "received_at"):
            assert getattr(stored, field.attname) == getattr(original, field.attname), field
    assert stored.charging_periods == original.charging_periods  # JSON, not a string
    assert stored.received_at is not None


def test_a_duplicate_source_id_is_an_integrity_error_and_stores_nothing(operator):
    original = make_priced_session(operator, None)

    with pytest.raises(IntegrityError), transaction.atomic():
        insert_models([copy_of(original, "NEW"), copy_of(original, original.source_id)])

    assert not ChargingSession.objects.filter(source_id="NEW").exists()


def test_rows_are_stored_in_the_order_of_the_named_fields(operator):
    session = make_priced_session(operator, None)
    session.charge_lines.all().delete()

    fields = ("session", "component", "quantity", "unit", "unit_price", "net", "position")
    fields += ("vat_category", "vat_rate", "vat", "gross")
    row = (session.pk, "energy", Decimal("1.500"), "kWh", Decimal("0.4"), Decimal("0.60"), 1)
    row += ("electricity", Decimal("19.00"), Decimal("0.11"), Decimal("0.71"))

    insert_rows(SessionChargeLine, fields, [row])

    line = session.charge_lines.get()
    assert (line.position, line.component, line.quantity, line.unit_price, line.gross) == (
        1,
        "energy",
        Decimal("1.500"),
        Decimal("0.400000"),
        Decimal("0.71"),
    )


def test_a_value_left_to_the_database_default_is_stored_as_that_default(operator):
    site = Location(
        operator=operator,
        name="Depot",
        street="Hafenstraße 1",
        postal_code="20457",
        city="Hamburg",
        country="DE",
        time_zone="Europe/Berlin",
    )

    insert_models([site])

    assert Location.objects.values_list("ocpi_id").get(pk=site.pk) == ("",)


def test_an_id_set_filters_as_the_list_of_its_ids_would(operator):
    sessions = [make_priced_session(operator, None) for _ in range(3)]
    wanted = [sessions[0].pk, sessions[2].pk, 10**9]

    found = ChargingSession.objects.filter(pk__in=id_set(wanted)).values_list("pk", flat=True)

    assert sorted(found) == [sessions[0].pk, sessions[2].pk]
    assert not ChargingSession.objects.filter(pk__in=id_set([])).exists()


def test_rows_get_their_new_ids_in_order(operator):
    session = make_priced_session(operator, None)
    fields = ("session", "component", "quantity", "unit", "unit_price", "net", "position")
    fields += ("vat_category", "vat_rate", "vat", "gross")
    zero = Decimal("0.00")
    rows = [
        (session.pk, "energy", Decimal(n), "kWh", Decimal("0.4"), Decimal("0.40") * n, 10 + n,
         "electricity", zero, zero, Decimal("0.40") * n)
        for n in (1, 2, 3)
    ]  # fmt: skip

    ids = insert_rows(SessionChargeLine, fields, rows)

    stored = dict(SessionChargeLine.objects.filter(pk__in=ids).values_list("pk", "position"))
    assert [stored[pk] for pk in ids] == [11, 12, 13]


def test_an_id_set_of_source_ids_filters_as_their_list_would(operator):
    sessions = [make_priced_session(operator, None) for _ in range(3)]
    wanted = [sessions[1].source_id, "never-sent"]

    found = ChargingSession.objects.filter(source_id__in=id_set(wanted, of=str))

    assert [s.pk for s in found] == [sessions[1].pk]
