"""Index migrations on the large tables build without blocking writes (docs/operations.md)."""

from __future__ import annotations

from django.db.migrations.loader import MigrationLoader
from django.db.migrations.operations import AddIndex

from cpo_portal.kernel.search import AddIndexConcurrentlyOnPostgres

# Tables that reach millions of rows: a plain CREATE INDEX holds up their writes for minutes.
LARGE = {
    ("charging", "chargingsession"),
    ("customers", "customer"),
    ("invoicing", "document"),
    ("invoicing", "documentline"),
    ("invoicing", "billedsession"),
    ("invoicing", "paymenttransaction"),
    ("invoicing", "terminaltransaction"),
}
# Applied everywhere before the rule; rewriting them would change nothing on a live database.
BEFORE_THE_RULE = {
    ("charging", "0001_initial"),
    ("charging", "0002_alter_chargingsession_status_and_more"),
    ("charging", "0003_admin_list_indexes"),
    ("customers", "0001_initial"),
    ("invoicing", "0002_documents_numbering_billing_runs"),
    ("invoicing", "0010_admin_list_indexes"),
    ("invoicing", "0025_payment_ledger"),
    ("invoicing", "0031_ledger_lists_and_exports"),
}


def test_new_indexes_on_large_tables_are_built_concurrently_outside_a_transaction():
    migrations = MigrationLoader(None, ignore_no_migrations=True).disk_migrations
    blocking = [
        f"{app}.{name}: {operation.index.name}"
        for (app, name), migration in migrations.items()
        if (app, name) not in BEFORE_THE_RULE
        for operation in migration.operations
        if isinstance(operation, AddIndex)
        and (app, operation.model_name) in LARGE
        and not (isinstance(operation, AddIndexConcurrentlyOnPostgres) and not migration.atomic)
    ]
    assert blocking == []
