"""Benchmark: e-invoice XML generation and validation per invoice, beside the PDF render.

Runs against a scratch database (a temporary SQLite file, or `<name>_bench_einvoice` on
PostgreSQL), filled through the real services and dropped at the end. Reports, per format, the
first validation of the process (rules compiled, then cached) and the median per invoice of
building the XML and of validating it (XML Schema and every Schematron rule set), against the
median render of the same invoice's PDF: validation should add at most that much.
"""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime, timedelta

from django.core.management.base import BaseCommand, CommandError

from customers.models import EInvoiceFormat
from invoicing.documents.issuing import issue_session_documents
from invoicing.einvoices import validation
from invoicing.einvoices.issuing import render
from invoicing.einvoices.terms import build_terms
from invoicing.models import Document, InvoicingSettings
from invoicing.output import pdf
from sessions.services import ingest_sessions
from tests.bench.fixtures import (
    AC_DC_TARIFFS,
    create_customer,
    create_network,
    create_operator,
    import_tariffs,
    session_payloads,
)
from tests.bench.report import verdict
from tests.bench.scratch import scratch_database, tasks_held

INVOICES = 20
FORMATS = (EInvoiceFormat.XRECHNUNG_CII, EInvoiceFormat.XRECHNUNG_UBL, EInvoiceFormat.FACTURX)


class Command(BaseCommand):
    help = (
        "E-invoices per invoice: XML generation and Schematron validation (per format) against "
        "the PDF render of the same invoice."
    )

    def add_arguments(self, parser):
        parser.add_argument("--invoices", type=int, default=INVOICES)

    def handle(self, *args, **options):
        if options["invoices"] < 2:
            raise CommandError("--invoices must be at least 2.")
        with scratch_database("bench_einvoice"):
            with tasks_held("bench_einvoice"):
                documents = build_invoices(options["invoices"])
            self._run(documents)

    def _run(self, documents: list[Document]) -> None:
        pdf.render_pdf(documents[0])  # warm-up: imports, fonts, templates
        renders = []
        for document in documents:
            started = time.perf_counter()
            pdf.render_pdf(document)
            renders.append((time.perf_counter() - started) * 1000)
        pdf_ms = statistics.median(renders)
        self.stdout.write(f"PDF render of the same invoices: median {pdf_ms:.0f} ms")
        lines = {d.pk: list(d.lines.all()) for d in documents}
        for fmt in FORMATS:
            validation.forget_compiled()
            build, check = [], []
            for index, document in enumerate(documents):
                started = time.perf_counter()
                terms = build_terms(
                    document=document,
                    lines=lines[document.pk],
                    fmt=fmt,
                    buyer_reference="04011000-12345-34",
                    iban="DE02120300000000202051",
                )
                xml = render(terms, fmt)
                built = time.perf_counter()
                report = validation.validate(xml, fmt=fmt)
                done = time.perf_counter()
                if not report.is_valid:
                    raise CommandError(f"{fmt} of {document} fails {report.failed_rules}")
                if index == 0:
                    first_s = done - built  # compiles the rule sets of this format
                    continue
                build.append((built - started) * 1000)
                check.append((done - built) * 1000)
            per_invoice = statistics.median(build) + statistics.median(check)
            text = (
                f"{EInvoiceFormat(fmt).label}: XML {statistics.median(build):.1f} ms + validation "
                f"{statistics.median(check):.0f} ms median per invoice over {len(check)} "
                f"({len(xml) / 1024:.0f} KB XML; first validation with compiling "
                f"{first_s:.1f} s, then cached)"
            )
            self.stdout.write(
                verdict(
                    self.style,
                    within=per_invoice <= pdf_ms,
                    met=f"{text} — OK (target <= the PDF render, {pdf_ms:.0f} ms)",
                    missed=f"{text} — SLOW (target <= the PDF render, {pdf_ms:.0f} ms)",
                )
            )


def build_invoices(count: int) -> list[Document]:
    """Per-session invoices of a fleet company (three charge components each), issued for real."""
    operator = create_operator(
        breakdown_page=False,
        issuing_schedule=InvoicingSettings.IssuingSchedule.PER_SESSION,
        einvoice_format=EInvoiceFormat.XRECHNUNG_CII,
        iban="DE02120300000000202051",
    )
    network = create_network(operator, locations=1, evses_per_location=4)
    tariff_ids = [t.ocpi_id for t in import_tariffs(operator, AC_DC_TARIFFS)]
    fleet = create_customer(
        operator,
        company=True,
        billing_mode=InvoicingSettings.IssuingSchedule.PER_SESSION,
        buyer_reference="04011000-12345-34",
    )
    now = datetime.now(tz=UTC).replace(microsecond=0)
    outcomes = ingest_sessions(
        operator=operator,
        source="bench",
        payloads=list(
            session_payloads(
                (now - timedelta(hours=6, minutes=n) for n in range(count)),
                evse_ids=network.evse_ids,
                tariff_ids=tariff_ids,
                prefix="EINV",
                customer_id=fleet.pk,
            )
        ),
    )
    issue_session_documents(session_ids=[o.session_id for o in outcomes])
    return list(Document.objects.filter(customer=fleet).select_related("profile").order_by("id"))
