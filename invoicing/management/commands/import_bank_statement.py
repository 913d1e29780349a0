"""Import a bank statement: `manage.py import_bank_statement camt053.xml [--operator NAME]`."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from invoicing.models import Operator
from invoicing.payments.statements import StatementError, import_statement, receive_statement


class Command(BaseCommand):
    help = (
        "Import an ISO 20022 camt.053 statement or camt.054 notification: each booked credit "
        "becomes a bank transfer matched to open invoices (or queued for review in the admin); "
        "returned direct debits reopen their invoices. Importing a file again books nothing twice."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="The camt.053/camt.054 XML file from the bank.")
        parser.add_argument("--operator", help="Operator name (default: the only operator).")

    def handle(self, *args, file: str, operator: str | None, **options):
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"There is no file {file}.")
        owner = self._operator(operator)
        with path.open("rb") as source:
            try:
                statement = receive_statement(operator=owner, name=path.name, data=source)
            except StatementError as exc:
                raise CommandError(f"Nothing was imported from {file}: {exc}") from None
        bar = tqdm(
            unit=" entries", desc=path.name, disable=options["verbosity"] < 1, file=self.stderr
        )
        try:
            statement = import_statement(statement, progress=bar.update)
        except StatementError as exc:
            raise CommandError(f"Nothing was imported from {file}: {exc}") from None
        finally:
            bar.close()
        self.stdout.write(
            f"Statement {statement} ({statement.message_type}): {statement.entries} entries, "
            f"{statement.credits} new credits — {statement.matched} matched, "
            f"{statement.partly_matched} partly matched, {statement.to_review} to review; "
            f"{statement.returns} direct-debit returns; "
            f"{statement.already_imported} imported before."
        )

    def _operator(self, name: str | None) -> Operator:
        operators = Operator.objects.order_by("name")
        if name:
            operators = operators.filter(name=name)
            if not operators:
                raise CommandError(f"There is no operator named “{name}”.")
        found = list(operators[:2])
        if len(found) != 1:
            raise CommandError("Say which operator the account belongs to: --operator NAME.")
        return found[0]
