"""Substring search that stays an index scan at millions of rows, and indexes that build
without blocking writes.

`icontains` is `UPPER(column) LIKE UPPER('%term%')`: on PostgreSQL a GIN index of the
column's upper-cased trigrams (pg_trgm) answers it for terms of three characters or more.
Index migrations on large tables use `AddIndexConcurrently` (docs/operations.md): a plain
`CREATE INDEX` holds up every write to the table while it builds. SQLite, the embedded
development database, has neither, so both operations skip there.
"""

from __future__ import annotations

from django.contrib.postgres.operations import AddIndexConcurrently, TrigramExtension
from django.db import models
from django.db.backends.ddl_references import Statement, Table
from django.db.models.functions import Upper

# Shorter terms have no trigram: the index cannot narrow them down, a prefix search can.
TRIGRAM_MIN_LENGTH = 3

__all__ = [
    "TRIGRAM_MIN_LENGTH",
    "AddIndexConcurrentlyOnPostgres",
    "UpperIndex",
    "UpperTrigramIndex",
    "UseTrigrams",
    "united",
]


def united(*probes: models.QuerySet) -> models.QuerySet:
    """The ids each index probe (a `values()` query) finds, united: one `UNION` instead of OR-ed
    conditions that PostgreSQL answers with a scan. The probes go unordered (a model's default
    order inside a `UNION` is refused by SQLite and pointless on PostgreSQL)."""
    first, *rest = (probe.order_by() for probe in probes)
    return first.union(*rest) if rest else first


class UpperIndex(models.Index):
    """An index of UPPER(field) under a PostgreSQL access method and operator class; a plain
    expression index elsewhere (SQLite in development, which also re-creates indexes when it
    rebuilds a table to add a column)."""

    method_sql = ""
    opclass_sql = ""

    def __init__(self, *, field: str, name: str):
        self.field_name = field
        super().__init__(Upper(field), name=name)

    def deconstruct(self):
        path, _expressions, _kwargs = super().deconstruct()
        return path, (), {"field": self.field_name, "name": self.name}

    def create_sql(self, model, schema_editor, using="", concurrently=False, **kwargs):
        if schema_editor.connection.vendor != "postgresql":
            return super().create_sql(model, schema_editor, using=using, **kwargs)
        # Written out: django.contrib.postgres's OpClass() needs that app installed.
        quote = schema_editor.quote_name
        return Statement(
            "CREATE INDEX %(concurrently)s%(name)s ON %(table)s %(method)s"
            "((UPPER(%(column)s)) %(opclass)s)",
            concurrently="CONCURRENTLY " if concurrently else "",
            name=quote(self.name),
            table=Table(model._meta.db_table, quote),
            method=self.method_sql,
            column=quote(model._meta.get_field(self.field_name).column),
            opclass=self.opclass_sql,
        )


class UpperTrigramIndex(UpperIndex):
    """A GIN index of UPPER(field)'s trigrams, for the `icontains` lookups of admin searches."""

    method_sql = "USING gin "
    opclass_sql = "gin_trgm_ops"


class UseTrigrams(TrigramExtension):
    """Install pg_trgm on PostgreSQL (nothing elsewhere); unapplying keeps it, as other
    indexes or databases' users may need it."""

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        pass


class AddIndexConcurrentlyOnPostgres(AddIndexConcurrently):
    """Build an index without blocking writes on PostgreSQL; nothing on other databases
    (the migration must say `atomic = False`)."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)
