"""Ingest sessions from a JSON file: native records or OCPI 2.2.1 CDRs, priced on the way in."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from cpo_portal.kernel.tenancy import Operator
from sessions.models import ChargingSession
from sessions.services import ingest_sessions, load_json

FORMATS = {
    "native": ChargingSession.PayloadFormat.NATIVE,
    "cdr": ChargingSession.PayloadFormat.OCPI_CDR,
}


class Command(BaseCommand):
    help = (
        "Ingest sessions from FILE (a JSON object or a list of them). Sessions already stored "
        "(same source and source id) are left unchanged; refused ones are listed with reasons."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="JSON file: one session object or a list of them.")
        parser.add_argument("--format", choices=sorted(FORMATS), default="native")
        parser.add_argument("--source", default="cpms", help="Name of the sending system.")
        parser.add_argument("--operator", type=int, help="Operator id (default: the only one).")
        parser.add_argument("--batch-size", type=int, default=1000)

    def handle(self, *args, file: str, format: str, source: str, operator: int | None, **options):
        path = Path(file)
        try:
            payloads = load_json(path.read_bytes())
        except FileNotFoundError as exc:
            raise CommandError(f"No such file: {path}.") from exc
        except json.JSONDecodeError as exc:
            raise CommandError(f"{path} is not valid JSON: {exc.msg} (line {exc.lineno}).") from exc
        if isinstance(payloads, dict):
            payloads = [payloads]
        if not isinstance(payloads, list):
            raise CommandError(f"{path} must hold a JSON object or a list of objects.")
        owner = self._operator(operator)

        batch_size = max(1, options["batch_size"])
        counts = {"created": 0, "duplicate": 0, "rejected": 0}
        with tqdm(total=len(payloads), desc="Sessions", unit="session", disable=None) as bar:
            for start in range(0, len(payloads), batch_size):
                chunk = payloads[start : start + batch_size]
                for outcome in ingest_sessions(
                    operator=owner, source=source, payloads=chunk, payload_format=FORMATS[format]
                ):
                    counts[outcome.status] += 1
                    if not outcome.ok:
                        problems = "; ".join(
                            f"{field}: {' '.join(msgs)}" for field, msgs in outcome.errors.items()
                        )
                        self.stderr.write(
                            f"Item {start + outcome.index} ({outcome.source_id or 'no id'}): "
                            f"{problems}"
                        )
                bar.update(len(chunk))
        self.stdout.write(
            f"{counts['created']} created, {counts['duplicate']} already stored (unchanged), "
            f"{counts['rejected']} rejected."
        )
        if counts["rejected"]:
            raise CommandError(f"{counts['rejected']} session(s) were rejected; see above.")

    def _operator(self, operator_id: int | None) -> Operator:
        if operator_id is not None:
            found = Operator.objects.filter(pk=operator_id).first()
            if found is None:
                raise CommandError(f"There is no operator with id {operator_id}.")
            return found
        operators = list(Operator.objects.all()[:2])
        if len(operators) != 1:
            raise CommandError("Name the operator with --operator ID (there is not exactly one).")
        return operators[0]
