"""PostgreSQL refuses changes to issued documents, their lines, session links and audit trail.

The application changes an issued document only through the services (status, payments,
recipient details); these triggers make every other change fail in the database too, whoever
runs the SQL. SQLite (the embedded demo database) relies on the model guards: Django's test
flush deletes rows one by one there, which such triggers would refuse.
"""

from django.db import migrations

FROZEN_DOCUMENT_COLUMNS = [
    "operator_id",
    "kind",
    "origin",
    "series_id",
    "number",
    "display_number",
    "customer_id",
    "billing_run_id",
    "credited_document_id",
    "reason",
    "profile_id",
    "language",
    "currency",
    "issue_date",
    "due_date",
    "period_start",
    "period_end",
    "delivery_country",
    "session_count",
    "total_energy_kwh",
    "total_duration_seconds",
    "vat_summary",
    "total_net",
    "total_vat",
    "total_gross",
    "issued_at",
    "created_at",
]


def _row(prefix: str) -> str:
    return "(" + ", ".join(f"{prefix}.{column}" for column in FROZEN_DOCUMENT_COLUMNS) + ")"


CREATE_TEMPLATE = """
CREATE FUNCTION invoicing_guard_document() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.status <> 'draft' THEN
            RAISE EXCEPTION 'document % is issued and cannot be deleted; credit it instead',
                OLD.display_number USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN OLD;
    END IF;
    IF OLD.status <> 'draft' AND (NEW.status = 'draft'
                                  OR NEW_ROW IS DISTINCT FROM OLD_ROW) THEN
        RAISE EXCEPTION 'document % is issued: its number, amounts and contents cannot change',
            OLD.display_number USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER invoicing_document_guard BEFORE UPDATE OR DELETE ON invoicing_document
    FOR EACH ROW EXECUTE FUNCTION invoicing_guard_document();

CREATE FUNCTION invoicing_guard_document_line() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        IF (SELECT status FROM invoicing_document WHERE id = OLD.document_id) <> 'draft' THEN
            RAISE EXCEPTION 'the lines of an issued document cannot change'
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    IF (SELECT status FROM invoicing_document WHERE id = NEW.document_id) <> 'draft' THEN
        RAISE EXCEPTION 'lines cannot be added to an issued document'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER invoicing_documentline_guard BEFORE INSERT OR UPDATE OR DELETE
    ON invoicing_documentline FOR EACH ROW EXECUTE FUNCTION invoicing_guard_document_line();

CREATE FUNCTION invoicing_guard_billed_session() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF (SELECT status FROM invoicing_document WHERE id = OLD.document_id) <> 'draft' THEN
            RAISE EXCEPTION 'the sessions of an issued document cannot be removed'
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN OLD;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        -- A credit note may only mark the original's sessions as reversed, never undo that.
        IF (SELECT status FROM invoicing_document WHERE id = OLD.document_id) <> 'draft' THEN
            IF (NEW.document_id, NEW.session_id, NEW.document_kind)
                   IS DISTINCT FROM (OLD.document_id, OLD.session_id, OLD.document_kind)
               OR (OLD.is_reversed AND NOT NEW.is_reversed) THEN
                RAISE EXCEPTION 'the sessions of an issued document cannot change'
                    USING ERRCODE = 'integrity_constraint_violation';
            END IF;
        END IF;
        RETURN NEW;
    END IF;
    IF (SELECT status FROM invoicing_document WHERE id = NEW.document_id) <> 'draft' THEN
        RAISE EXCEPTION 'sessions cannot be added to an issued document'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER invoicing_billedsession_guard BEFORE INSERT OR UPDATE OR DELETE
    ON invoicing_billedsession FOR EACH ROW EXECUTE FUNCTION invoicing_guard_billed_session();

CREATE FUNCTION invoicing_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is a permanent record and cannot be changed or deleted', TG_TABLE_NAME
        USING ERRCODE = 'integrity_constraint_violation';
END $$;

CREATE TRIGGER invoicing_recipientcorrection_guard BEFORE UPDATE OR DELETE
    ON invoicing_recipientcorrection FOR EACH ROW EXECUTE FUNCTION invoicing_refuse_change();
CREATE TRIGGER invoicing_payment_guard BEFORE UPDATE OR DELETE
    ON invoicing_payment FOR EACH ROW EXECUTE FUNCTION invoicing_refuse_change();
"""
CREATE = CREATE_TEMPLATE.replace("NEW_ROW", _row("NEW")).replace("OLD_ROW", _row("OLD"))

DROP = """
DROP TRIGGER IF EXISTS invoicing_payment_guard ON invoicing_payment;
DROP TRIGGER IF EXISTS invoicing_recipientcorrection_guard ON invoicing_recipientcorrection;
DROP TRIGGER IF EXISTS invoicing_billedsession_guard ON invoicing_billedsession;
DROP TRIGGER IF EXISTS invoicing_documentline_guard ON invoicing_documentline;
DROP TRIGGER IF EXISTS invoicing_document_guard ON invoicing_document;
DROP FUNCTION IF EXISTS invoicing_refuse_change();
DROP FUNCTION IF EXISTS invoicing_guard_billed_session();
DROP FUNCTION IF EXISTS invoicing_guard_document_line();
DROP FUNCTION IF EXISTS invoicing_guard_document();
"""


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(CREATE)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("invoicing", "0002_documents_numbering_billing_runs")]

    operations = [migrations.RunPython(create, drop)]
