"""Stored sessions get their issuing decision: a session no document touched is due as the rule
decides today (composition.document_kind_for); a billed one is not due again."""

from django.db import migrations
from django.db.models import Exists, OuterRef, Q

CONTRACT_KINDS = ("individual", "company")


def decide(apps, schema_editor):
    ChargingSession = apps.get_model("charging", "ChargingSession")
    BilledSession = apps.get_model("invoicing", "BilledSession")
    InvoicingSettings = apps.get_model("invoicing", "InvoicingSettings")
    touched = Exists(BilledSession.objects.filter(session=OuterRef("pk")))
    for settings in InvoicingSettings.objects.all():
        if settings.issuing_schedule == "collect_only":
            continue
        gets_document = Q(customer__kind__in=CONTRACT_KINDS, customer__requires_invoice=True)
        if settings.always_issue:
            gets_document = Q()
        ChargingSession.objects.filter(gets_document, operator_id=settings.operator_id).exclude(
            touched
        ).update(issuing_due=True)


class Migration(migrations.Migration):
    dependencies = [
        ("invoicing", "0015_datev_default_revenue_accounts"),
        ("charging", "0005_session_issuing_due"),
    ]

    operations = [migrations.RunPython(decide, migrations.RunPython.noop)]
