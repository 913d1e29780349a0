"""Benchmark: one SEPA pain.008.001.02 file for 100,000 due invoices, written with sepaxml and
validated against the XSD, as a collection run writes it (collections.pain008).

The invoices and mandates are built in memory (one mandate per ten invoices, half FRST), so the
figure is the file alone: building, XSD validation and serialisation. Target: under 30 s.
"""

from __future__ import annotations

import time
from datetime import date, timedelta
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError
from lxml import etree

from invoicing.documents.models import Document
from invoicing.payments.collections import Collection, pain008
from invoicing.payments.models import SepaMandate, SequenceType
from tests.bench.report import verdict

TARGET_S = 30.0
INVOICES = 100_000
IBANS = ("DE89370400440532013000", "DE02120300000000202051", "FR1420041010050500013M02606")


class Command(BaseCommand):
    help = "Write and XSD-validate one pain.008 for 100,000 due invoices (target < 30 s)."

    def add_arguments(self, parser):
        parser.add_argument("--invoices", type=int, default=INVOICES)

    def handle(self, *args, invoices: int, **options):
        if invoices < 1:
            raise CommandError("--invoices must be at least 1.")
        day = date.today() + timedelta(days=5)
        collections = []
        for n in range(invoices):
            mandate = SepaMandate(
                pk=n // 10 + 1,
                iban=IBANS[n % len(IBANS)],
                bic="COBADEFFXXX",
                account_holder=f"Driver {n // 10}",
                reference=f"M{n // 10}-BENCH",
                signed_on=date(2026, 1, 1),
            )
            collections.append(
                Collection(
                    invoice=Document(pk=n + 1, display_number=f"INV-{n + 1:07d}"),
                    mandate=mandate,
                    amount=Decimal("12.34") + n % 100,
                    end_to_end_id=f"INV-{n + 1:07d}",
                    sequence_type=SequenceType.FIRST if n % 20 < 10 else SequenceType.RECURRING,
                )
            )
        started = time.perf_counter()
        content = pain008(
            creditor_name="Bench CPO GmbH",
            creditor_iban="DE02120300000000202051",
            creditor_bic="BYLADEM1001",
            creditor_id="DE98ZZZ09999999999",
            collection_date=day,
            collections=collections,
            message_id="BENCH-1",
        )
        took = time.perf_counter() - started
        tree = etree.fromstring(content)
        count = tree.xpath("string(//*[local-name()='GrpHdr']/*[local-name()='NbOfTxs'])")
        if int(count) != invoices:
            raise CommandError(f"The file holds {count} collections, not {invoices}.")
        self.stdout.write(
            f"pain.008 for {invoices} invoices: {took:.1f} s ({invoices / took:.0f} invoices/s, "
            f"{len(content) / 1e6:.1f} MB, validated against the XSD)."
        )
        scaled = took * INVOICES / invoices
        self.stdout.write(
            verdict(
                self.style,
                within=scaled < TARGET_S,
                met=f"Target met: {scaled:.1f} s for {INVOICES} invoices (< 30 s).",
                missed=f"Target missed: {scaled:.1f} s for {INVOICES} invoices (> 30 s).",
            )
        )
