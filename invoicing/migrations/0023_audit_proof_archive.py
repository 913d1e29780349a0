"""The audit-proof archive (docs/archive.md): entries, chain heads, legal holds, verifications.

PostgreSQL refuses every UPDATE and DELETE of an archive entry (whoever runs the SQL) and lets
a chain head only move forward onto an entry that exists; SQLite relies on the model guards, as
for issued documents (0003). The hourly catch-up is registered with Celery Beat, and the
back-office roles get the archive: billing managers all of it, accountants reading, verifying
and legal holds.
"""

import django.db.models.deletion
from django.conf import settings
from django.contrib.auth.management import create_permissions
from django.db import migrations, models

from cpo_portal.beat_schedules import register_schedules

GUARDS = """
CREATE TRIGGER invoicing_archiveentry_guard BEFORE UPDATE OR DELETE
    ON invoicing_archiveentry FOR EACH ROW EXECUTE FUNCTION invoicing_refuse_change();

CREATE FUNCTION invoicing_guard_archive_chain() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'the archive chain of operator % cannot be deleted', OLD.operator_id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF NEW.operator_id <> OLD.operator_id OR NEW.sequence < OLD.sequence
       OR (NEW.sequence = OLD.sequence AND NEW.head_hash <> OLD.head_hash)
       OR (NEW.sequence > OLD.sequence AND NOT EXISTS (
               SELECT 1 FROM invoicing_archiveentry
               WHERE operator_id = NEW.operator_id AND sequence = NEW.sequence
                 AND entry_hash = NEW.head_hash)) THEN
        RAISE EXCEPTION 'the archive chain of operator % only moves forward onto its last entry',
            OLD.operator_id USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER invoicing_archivechain_guard BEFORE UPDATE OR DELETE
    ON invoicing_archivechain FOR EACH ROW EXECUTE FUNCTION invoicing_guard_archive_chain();
"""

DROP_GUARDS = """
DROP TRIGGER IF EXISTS invoicing_archivechain_guard ON invoicing_archivechain;
DROP FUNCTION IF EXISTS invoicing_guard_archive_chain();
DROP TRIGGER IF EXISTS invoicing_archiveentry_guard ON invoicing_archiveentry;
"""

SCHEDULES = [
    (
        "Archive pending documents and payments",
        "invoicing.archive_pending",
        {"minute": "45", "hour": "*", "day_of_month": "*"},
        "Archives the PDFs, session payloads and payments whose archiving task was lost.",
    ),
]

ARCHIVE_MODELS = ("archiveentry", "archivechain", "legalhold", "archiveverification")
ACCOUNTANT = [
    "view_archiveentry",
    "view_archivechain",
    "view_legalhold",
    "view_archiveverification",
    "add_archiveverification",
]


def create_guards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(GUARDS)


def drop_guards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(DROP_GUARDS)


def grant_roles(apps, schema_editor):
    # Permissions are normally created after all migrations; the groups need them now.
    app_config = apps.get_app_config("invoicing")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    archive = Permission.objects.filter(
        content_type__app_label="invoicing", content_type__model__in=ARCHIVE_MODELS
    )
    for name, permissions in (
        ("Billing manager", archive),
        ("Accountant", archive.filter(codename__in=ACCOUNTANT)),
    ):
        group = Group.objects.filter(name=name).first()
        if group is not None:
            group.permissions.add(*permissions)


class Migration(migrations.Migration):
    dependencies = [
        ("invoicing", "0022_einvoices"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.CreateModel(
            name="ArchiveChain",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("sequence", models.PositiveBigIntegerField(default=0, verbose_name="entries")),
                (
                    "head_hash",
                    models.CharField(
                        default="0000000000000000000000000000000000000000000000000000000000000000",
                        max_length=64,
                        verbose_name="head hash",
                    ),
                ),
                ("updated_at", models.DateTimeField(auto_now=True, verbose_name="updated at")),
                (
                    "operator",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="invoicing.operator",
                    ),
                ),
            ],
            options={
                "verbose_name": "archive chain",
            },
        ),
        migrations.CreateModel(
            name="ArchiveVerification",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "state",
                    models.CharField(
                        choices=[
                            ("running", "Running"),
                            ("intact", "Intact"),
                            ("broken", "Broken"),
                        ],
                        default="running",
                        max_length=10,
                        verbose_name="state",
                    ),
                ),
                (
                    "entries_checked",
                    models.PositiveBigIntegerField(default=0, verbose_name="entries checked"),
                ),
                (
                    "files_checked",
                    models.PositiveBigIntegerField(default=0, verbose_name="files checked"),
                ),
                (
                    "expired_files",
                    models.PositiveBigIntegerField(
                        default=0, verbose_name="files removed after retention"
                    ),
                ),
                ("message", models.TextField(blank=True, verbose_name="result")),
                ("started_at", models.DateTimeField(auto_now_add=True, verbose_name="started at")),
                (
                    "finished_at",
                    models.DateTimeField(blank=True, null=True, verbose_name="finished at"),
                ),
                (
                    "operator",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="invoicing.operator",
                    ),
                ),
                (
                    "requested_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "verbose_name": "archive verification",
                "ordering": ["-started_at"],
            },
        ),
        migrations.CreateModel(
            name="LegalHold",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("reason", models.CharField(max_length=200, verbose_name="reason")),
                (
                    "kind",
                    models.CharField(
                        blank=True,
                        choices=[
                            ("document_pdf", "Document PDF"),
                            ("einvoice_xml", "E-invoice XML"),
                            ("session_payload", "Session payload (CDR)"),
                            ("payment_record", "Payment record"),
                            ("books", "Books (journals, booking batches)"),
                        ],
                        max_length=20,
                        verbose_name="kind",
                    ),
                ),
                (
                    "reference",
                    models.CharField(blank=True, max_length=200, verbose_name="reference"),
                ),
                (
                    "archived_from",
                    models.DateField(blank=True, null=True, verbose_name="archived from"),
                ),
                (
                    "archived_to",
                    models.DateField(blank=True, null=True, verbose_name="archived to"),
                ),
                ("placed_at", models.DateTimeField(auto_now_add=True, verbose_name="placed at")),
                (
                    "released_at",
                    models.DateTimeField(blank=True, null=True, verbose_name="released at"),
                ),
                (
                    "operator",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="invoicing.operator",
                    ),
                ),
                (
                    "placed_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "verbose_name": "legal hold",
                "ordering": ["operator", "-placed_at"],
            },
        ),
        migrations.CreateModel(
            name="ArchiveEntry",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("sequence", models.PositiveBigIntegerField(verbose_name="sequence")),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("document_pdf", "Document PDF"),
                            ("einvoice_xml", "E-invoice XML"),
                            ("session_payload", "Session payload (CDR)"),
                            ("payment_record", "Payment record"),
                            ("books", "Books (journals, booking batches)"),
                        ],
                        max_length=20,
                        verbose_name="kind",
                    ),
                ),
                ("reference", models.CharField(max_length=200, verbose_name="reference")),
                ("source_key", models.CharField(max_length=120, verbose_name="source")),
                ("content_type", models.CharField(max_length=100, verbose_name="content type")),
                ("sha256", models.CharField(max_length=64, verbose_name="SHA-256 of the file")),
                ("size", models.PositiveBigIntegerField(verbose_name="size (bytes)")),
                ("storage_name", models.CharField(max_length=255, verbose_name="stored as")),
                ("record_date", models.DateField(verbose_name="record date")),
                ("retain_until", models.DateField(verbose_name="retain until")),
                ("archived_at", models.DateTimeField(verbose_name="archived at")),
                (
                    "previous_hash",
                    models.CharField(max_length=64, verbose_name="previous entry's hash"),
                ),
                ("entry_hash", models.CharField(max_length=64, verbose_name="entry hash")),
                (
                    "operator",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="invoicing.operator",
                    ),
                ),
            ],
            options={
                "verbose_name": "archive entry",
                "verbose_name_plural": "archive entries",
                "ordering": ["operator", "sequence"],
                "indexes": [
                    models.Index(
                        fields=["operator", "kind", "retain_until"],
                        name="invoicing_a_operato_13e40f_idx",
                    ),
                    models.Index(
                        fields=["operator", "reference"], name="invoicing_a_operato_b690f5_idx"
                    ),
                ],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("operator", "sequence"), name="archive_entry_sequence_unique"
                    ),
                    models.UniqueConstraint(
                        fields=("operator", "previous_hash"), name="archive_entry_no_fork"
                    ),
                    models.UniqueConstraint(
                        fields=("operator", "source_key"), name="archive_entry_source_once"
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("sequence__gte", 1)), name="archive_entry_sequence_1"
                    ),
                ],
            },
        ),
        migrations.RunPython(create_guards, drop_guards),
        register_schedules(SCHEDULES),
        migrations.RunPython(grant_roles, migrations.RunPython.noop),
    ]
