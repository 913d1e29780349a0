"""Inserting many rows at once: PostgreSQL COPY, or Django's bulk_create on other databases.

Ingest stores thousands of sessions and breakdown lines per batch. Django's bulk INSERT on
PostgreSQL spends most of its time quoting values in Python (text arrays for UNNEST); COPY hands
psycopg's C dumpers plain rows. Constraints and triggers apply as with INSERT, and a violation
raises Django's IntegrityError, so callers handle both paths alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db import connection, models
from django.db.models.expressions import DatabaseDefault, Expression, RawSQL, Value
from psycopg import sql


def insert_models(objects: Sequence[models.Model]) -> None:
    """Insert new instances of one model and set their primary keys."""
    if not objects:
        return
    model = type(objects[0])
    if connection.vendor != "postgresql":
        model.objects.bulk_create(objects)
        return
    meta = model._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    prepare = [_prepare_for(f) for f in fields]
    with connection.cursor() as cursor:
        ids = _next_ids(cursor, meta, len(objects))
        rows = (
            (pk, *(p(f.pre_save(obj, True)) for f, p in zip(fields, prepare, strict=True)))
            for pk, obj in zip(ids, objects, strict=True)
        )
        _copy(cursor, meta.db_table, [meta.pk.column, *(f.column for f in fields)], rows)
    for pk, obj in zip(ids, objects, strict=True):
        obj.pk = pk
        obj._state.adding = False
        obj._state.db = connection.alias


def _next_ids(cursor, meta, count: int) -> list[int]:
    """Primary keys for `count` new rows, taken from the table's sequence."""
    cursor.execute(
        "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
        [meta.db_table, meta.pk.column, count],
    )
    return [row[0] for row in cursor.fetchall()]


# The column types an id set may hold (the SQL cast is spelled from this map, never from input).
_ID_TYPES = {int: "bigint", str: "text"}


def id_set(ids: Iterable[int] | Iterable[str], *, of: type = int):
    """Ids (numbers, or the text ids of a source) for an `__in` filter. On PostgreSQL a set the
    planner joins through the index: given thousands of ids as a list it scanned the whole table
    (every month's charge lines, every session of a source) instead."""
    ids = list(ids)
    if connection.vendor != "postgresql":
        return ids
    return RawSQL(f"SELECT unnest(%s::{_ID_TYPES[of]}[])", [ids])  # noqa: S611 (cast from the map)


def insert_rows(
    model: type[models.Model], field_names: Sequence[str], rows: Sequence[tuple]
) -> list[int]:
    """Insert rows of plain values given in the order of `field_names`; their new ids, in order."""
    if not rows:
        return []
    fields = [model._meta.get_field(name) for name in field_names]
    if connection.vendor != "postgresql":
        attnames = [f.attname for f in fields]
        created = model.objects.bulk_create(
            [model(**dict(zip(attnames, row, strict=True))) for row in rows], batch_size=2000
        )
        return [obj.pk for obj in created]
    meta = model._meta
    prepare = [_prepare_for(f) for f in fields]
    plain = all(p is _same for p in prepare)
    with connection.cursor() as cursor:
        ids = _next_ids(cursor, meta, len(rows))
        prepared = (
            (pk, *row) if plain else (pk, *(p(v) for p, v in zip(prepare, row, strict=True)))
            for pk, row in zip(ids, rows, strict=True)
        )
        _copy(cursor, meta.db_table, [meta.pk.column, *(f.column for f in fields)], prepared)
    return ids


def _same(value):
    return value


def _prepare_for(field: models.Field):
    """What a value needs before psycopg can dump it: JSON is wrapped, a value left to the
    database's default becomes that default (COPY has no DEFAULT), the rest goes as is."""
    if field.has_db_default():
        default = _literal_db_default(field)
        if isinstance(field, models.JSONField):
            return lambda value: connection.ops.adapt_json_value(
                default if isinstance(value, DatabaseDefault) else value, field.encoder
            )
        return lambda value: default if isinstance(value, DatabaseDefault) else value
    if isinstance(field, models.JSONField):
        return lambda value: connection.ops.adapt_json_value(value, field.encoder)
    return _same


def _literal_db_default(field: models.Field):
    default = field.db_default
    if isinstance(default, Value):
        default = default.value
    if isinstance(default, Expression):
        raise TypeError(f"{field} has a computed database default; COPY cannot leave it out.")
    return default


def _copy(cursor, table: str, columns: Sequence[str], rows) -> None:
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    # Django wraps errors of execute() only; COPY's must become IntegrityError etc. too.
    with connection.wrap_database_errors, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)
