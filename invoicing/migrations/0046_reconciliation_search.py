# The reconciliation queue's search over every outcome is an index scan (docs/payments.md).

from django.db import migrations

import cpo_portal.kernel.search


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY cannot run in a transaction.
    atomic = False

    dependencies = [
        ("invoicing", "0045_terminal_payment_list_order"),
    ]

    operations = [
        cpo_portal.kernel.search.AddIndexConcurrentlyOnPostgres(
            model_name="paymenttransaction",
            index=cpo_portal.kernel.search.UpperTrigramIndex(
                field="payer_name", name="transaction_payer_trigram"
            ),
        ),
        cpo_portal.kernel.search.AddIndexConcurrentlyOnPostgres(
            model_name="paymenttransaction",
            index=cpo_portal.kernel.search.UpperTrigramIndex(
                field="remittance_information", name="transaction_remittance_trigram"
            ),
        ),
    ]
