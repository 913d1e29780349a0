"""PostgreSQL refuses changes to signed meter data as received (docs/metering.md).

The signed records, the key and method sent with them are the measurement law's evidence: once
stored, no SQL may change or delete them. What verification read from them (meter serial,
readings, pagination) may be brought up to date. SQLite (the embedded demo) has no guard.
"""

from django.db import migrations

GUARD = """
CREATE FUNCTION charging_guard_signed_value() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'signed meter value % is kept as received and cannot be changed or deleted',
        OLD.id USING ERRCODE = 'integrity_constraint_violation';
END $$;

CREATE TRIGGER charging_signed_value_guard BEFORE UPDATE OR DELETE
    ON charging_signedmetervalue FOR EACH ROW EXECUTE FUNCTION charging_guard_signed_value();

CREATE FUNCTION charging_guard_signed_data() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE'
        OR NEW.session_id <> OLD.session_id
        OR NEW.encoding_method <> OLD.encoding_method
        OR NEW.encoding_method_version IS DISTINCT FROM OLD.encoding_method_version
        OR NEW.public_key <> OLD.public_key
        OR NEW.url <> OLD.url THEN
        RAISE EXCEPTION 'signed meter data % are kept as received and cannot be changed or deleted',
            OLD.id USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER charging_signed_data_guard BEFORE UPDATE OR DELETE
    ON charging_signedmeterdata FOR EACH ROW EXECUTE FUNCTION charging_guard_signed_data();
"""

DROP_GUARD = """
DROP TRIGGER IF EXISTS charging_signed_value_guard ON charging_signedmetervalue;
DROP FUNCTION IF EXISTS charging_guard_signed_value();
DROP TRIGGER IF EXISTS charging_signed_data_guard ON charging_signedmeterdata;
DROP FUNCTION IF EXISTS charging_guard_signed_data();
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
    dependencies = [("charging", "0008_session_quarantine_index")]

    operations = [migrations.RunPython(create, drop)]
