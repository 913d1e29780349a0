"""PostgreSQL refuses changes to the e-invoice of an issued document (docs/einvoices.md).

The XML, its hash, format and validation report are stored in the issuing transaction and are
part of the invoice (GoBD); like the document itself (0003), once the document is issued no SQL
may change or delete them. SQLite (the embedded demo database) relies on the model guard.
"""

from django.db import migrations

GUARD = """
CREATE FUNCTION invoicing_guard_einvoice() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT status FROM invoicing_document WHERE id = OLD.document_id) <> 'draft' THEN
        RAISE EXCEPTION 'the e-invoice of issued document % cannot be changed or deleted',
            (SELECT display_number FROM invoicing_document WHERE id = OLD.document_id)
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER invoicing_einvoice_guard BEFORE UPDATE OR DELETE
    ON invoicing_einvoice FOR EACH ROW EXECUTE FUNCTION invoicing_guard_einvoice();
"""

DROP_GUARD = """
DROP TRIGGER IF EXISTS invoicing_einvoice_guard ON invoicing_einvoice;
DROP FUNCTION IF EXISTS invoicing_guard_einvoice();
"""


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(GUARD)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(DROP_GUARD)


class Migration(migrations.Migration):
    dependencies = [("invoicing", "0028_short_links")]

    operations = [migrations.RunPython(create, drop)]
