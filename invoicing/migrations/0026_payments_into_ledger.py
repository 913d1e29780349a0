"""Payments recorded before the ledger become transactions of the manual provider."""

from datetime import datetime, time

from django.db import migrations
from django.utils import timezone


def move_into_ledger(apps, schema_editor):
    Payment = apps.get_model("invoicing", "Payment")
    PaymentTransaction = apps.get_model("invoicing", "PaymentTransaction")
    for payment in Payment.objects.filter(transaction__isnull=True).select_related("document"):
        document = payment.document
        entry = PaymentTransaction.objects.create(
            operator_id=document.operator_id,
            customer_id=document.customer_id,
            provider="manual",
            provider_reference=f"manual-payment-{payment.pk}",
            kind="manual",
            status="succeeded",
            amount=payment.amount,
            currency=document.currency,
            value_date=payment.paid_on,
            occurred_at=timezone.make_aware(datetime.combine(payment.paid_on, time(12))),
            remittance_information=payment.reference,
            recorded_by_id=payment.recorded_by_id,
        )
        Payment.objects.filter(pk=payment.pk).update(transaction=entry)


class Migration(migrations.Migration):
    dependencies = [("invoicing", "0025_payment_ledger")]

    operations = [migrations.RunPython(move_into_ledger, migrations.RunPython.noop)]
