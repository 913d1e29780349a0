"""Write a camt.053 statement that pays the demo's open invoices: `manage.py
sample_bank_statement --output statement.xml`, then import it (admin, API or command)."""

from __future__ import annotations

import io
import sys
from decimal import Decimal
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from cpo_portal.kernel.money import round_money
from cpo_portal.kernel.periods import today_for
from invoicing.models import Document, DocumentStatus, InvoicingSettings, Operator
from invoicing.payments.matching import Matcher, normalize
from invoicing.payments.statements import Credit, write_camt053
from invoicing.setup.models import DocumentKind


def typos(number: str):
    """The number as drivers mistype it: a character dropped, two neighbours swapped."""
    for i in range(len(number) - 1, 0, -1):
        yield number[:i] + number[i + 1 :]
        yield number[: i - 1] + number[i] + number[i - 1] + number[i + 1 :]


class Command(BaseCommand):
    help = (
        "Write a camt.053 bank statement for the current demo data: transfers that pay open "
        "invoices exactly, with a typo in the reference, two invoices at once, in part, and "
        "one transfer without a number that lands in the review queue."
    )

    def add_arguments(self, parser):
        parser.add_argument("--output", help="File to write (default: standard output).")
        parser.add_argument("--operator", help="Operator name (default: the only operator).")

    def handle(self, *args, output: str | None, operator: str | None, **options):
        owner = self._operator(operator)
        settings = InvoicingSettings.objects.filter(operator=owner).first()
        if settings is None or not settings.iban:
            raise CommandError(f"{owner} has no IBAN in its invoicing settings.")
        invoices = list(
            Document.objects.filter(
                operator=owner,
                kind=DocumentKind.INVOICE,
                currency="EUR",
                status__in=(DocumentStatus.ISSUED, DocumentStatus.OVERDUE),
            ).order_by("issue_date", "id")[:5]
        )
        if len(invoices) < 5:
            raise CommandError(
                "The demo needs five open EUR invoices: run `manage.py seed_demo` first."
            )
        credits = list(self._credits(invoices))
        statement = io.BytesIO()
        write_camt053(
            statement,
            credits,
            account_iban=settings.iban.replace(" ", ""),
            statement_id=f"DEMO-{today_for(owner):%Y%m%d}",
            booked_on=today_for(owner),
        )
        if output:
            Path(output).write_bytes(statement.getvalue())
            self.stderr.write(f"Wrote {len(credits)} transfers to {output}.")
        else:
            sys.stdout.buffer.write(statement.getvalue())

    def _credits(self, invoices):
        first, second, third, fourth, fifth = invoices

        def payer(document):
            return document.recipient_name or "Demo driver"

        yield Credit(first.outstanding, f"Invoice {first.display_number}", payer(first))
        # A typo that still names only this invoice (never another one exactly).
        matcher = Matcher(second.operator)
        mistyped = next(
            (
                text
                for text in typos(second.display_number)
                if normalize(text) != normalize(second.display_number)
                and [i.id for i in matcher.named(text, "EUR")[0]] == [second.pk]
            ),
            second.display_number.replace("-", " ").lower(),
        )
        yield Credit(second.outstanding, mistyped, payer(second))
        yield Credit(
            third.outstanding + fourth.outstanding,
            f"{third.display_number}, {fourth.display_number}",
            payer(third),
        )
        half = round_money(fifth.outstanding / 2, "EUR")
        yield Credit(half, f"{fifth.display_number} first half", payer(fifth))
        yield Credit(
            Decimal("12.34"), "Ladestrom Oktober", "Unknown sender", "DE75512108001245126199"
        )

    def _operator(self, name: str | None) -> Operator:
        operators = Operator.objects.order_by("name")
        if name:
            operators = operators.filter(name=name)
        found = list(operators[:2])
        if len(found) != 1:
            raise CommandError("Say which operator: --operator NAME.")
        return found[0]
