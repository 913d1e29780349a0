"""Render sample documents in every layout and language, as PDFs and PNG pictures.

`manage.py pdf_samples --settings tests.bench.settings --out docs/images` refreshes the pictures
in docs/documents.md. Like bench_pdf it works in a scratch database that is dropped afterwards,
with the benchmarks' data (tests/bench/fixtures.py); pictures need pdftoppm (Debian package
poppler-utils).
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management.base import BaseCommand, CommandError
from django.test.utils import override_settings
from PIL import Image, ImageDraw

from cpo_portal.kernel.periods import previous_period, today_for
from customers.models import Customer
from invoicing.billing.runs import run_billing
from invoicing.documents.issuing import issue_session_documents
from invoicing.models import Document, InvoicingSettings, Operator
from invoicing.output import pdf
from invoicing.setup.logos import prepare_logo
from sessions.services import ingest_sessions
from tests.bench.fixtures import (
    AC_DC_TARIFFS,
    create_customer,
    create_network,
    create_operator,
    import_tariffs,
    session_payloads,
)
from tests.bench.scratch import scratch_database, tasks_held

# name, language, content options, monthly?, pages to picture
SAMPLES = [
    ("invoice-detailed-breakdown", "en", {}, True, [1, 2]),
    ("invoice-single-row", "en", {"services_table": "single", "breakdown_page": False}, False, [1]),
    ("invoice-hidden-energy", "de", {"hide_energy": True}, True, [1, 2]),
    ("invoice-arabic", "ar", {}, True, [1, 2]),
    ("invoice-greek", "el", {}, False, [1]),
    ("invoice-french", "fr", {"breakdown_page": False}, False, []),
    ("sales-receipt-simplified", "en", {"always_issue": True}, False, [1]),
]


class Command(BaseCommand):
    help = "Render sample PDFs (and PNG pictures of chosen pages) in every layout and language."

    def add_arguments(self, parser):
        parser.add_argument("--out", default="docs/images", help="Directory for PNGs and PDFs.")
        parser.add_argument("--resolution", type=int, default=60, help="PNG resolution (dpi).")
        parser.add_argument("--no-pdf", action="store_true", help="Write the PNG pictures only.")

    def handle(self, *args, out: str, resolution: int, no_pdf: bool, **options):
        pdftoppm = shutil.which("pdftoppm")
        if pdftoppm is None:
            raise CommandError("pdftoppm is missing: apt-get install poppler-utils")
        target = Path(out)
        target.mkdir(parents=True, exist_ok=True)
        with (
            tempfile.TemporaryDirectory(prefix="pdf-samples-") as tmp,
            scratch_database("pdf_samples"),
            override_settings(MEDIA_ROOT=str(Path(tmp) / "media")),
            tasks_held("pdf_samples"),
        ):
            for name, data, pages in self._render_all():
                if not no_pdf:
                    (target / f"{name}.pdf").write_bytes(data)
                source = Path(tmp) / f"{name}.pdf"
                source.write_bytes(data)
                for page in pages:
                    png = target / f"{name}-p{page}.png"
                    self._picture(pdftoppm, source, page, resolution, png)
                    self.stdout.write(f"wrote {png}")

    def _picture(self, pdftoppm: str, source: Path, page: int, resolution: int, png: Path):
        """One page as a small palette PNG (the pictures live in the repository)."""
        stem = source.with_name(f"{source.stem}-{page}")
        command = [pdftoppm, "-r", str(resolution), "-png", "-singlefile"]
        subprocess.run([*command, "-f", str(page), "-l", str(page), source, stem], check=True)
        with Image.open(f"{stem}.png") as picture:
            picture.convert("P", palette=Image.Palette.ADAPTIVE).save(png, optimize=True)

    def _render_all(self):
        operator = create_operator(
            notice="Thank you for charging with VoltWay.",
            custom_text="VoltWay Charging GmbH · Amtsgericht Charlottenburg HRB 123456 B",
        )
        settings_row = operator.invoicing_settings
        settings_row.logo.save("voltway.png", prepare_logo(_logo_upload()), save=True)
        network = create_network(operator, locations=1, evses_per_location=4)
        tariff_ids = [t.ocpi_id for t in import_tariffs(operator, AC_DC_TARIFFS)]
        defaults = {
            field: getattr(settings_row, field)
            for field in (
                "services_table",
                "breakdown_page",
                "hide_energy",
                "always_issue",
                "issuing_schedule",
            )
        }
        period = previous_period(today_for(operator))
        for number, (name, language, options, monthly, pages) in enumerate(SAMPLES):
            InvoicingSettings.objects.filter(pk=settings_row.pk).update(**{**defaults, **options})
            operator = Operator.objects.get(pk=operator.pk)
            receipt = options.get("always_issue", False)
            customer = create_customer(
                operator,
                name={"ar": "عمر حداد", "el": "Ελένη Παπαδοπούλου"}.get(language, "Anna Schmidt"),
                email=f"{name}@example.org",
                language=language,
                requires_invoice=not receipt,
                billing_mode=Customer.BillingMode.MONTHLY
                if monthly
                else Customer.BillingMode.PER_SESSION,
            )
            first = (
                datetime(period.year, period.month, 1, 7, tzinfo=UTC)
                if monthly
                else datetime.now(tz=UTC) - timedelta(hours=5)
            )
            starts = [first + timedelta(hours=19 * n) for n in range(28 if monthly else 1)]
            payloads = session_payloads(
                starts,
                evse_ids=network.evse_ids,
                tariff_ids=tariff_ids,
                prefix=f"SAMPLE{number}-",
                customer_id=customer.pk,
                seed=number,
            )
            outcomes = ingest_sessions(operator=operator, source="samples", payloads=list(payloads))
            if monthly:
                run = run_billing(operator=operator, period=period)
                if run.errors.exists():
                    raise CommandError(f"{name}: {run.errors.first().message}")
            else:
                issue_session_documents(session_ids=[o.session_id for o in outcomes])
            document = Document.objects.get(customer=customer)
            yield name, pdf.render_pdf(document), pages


def _logo_upload():
    """A small drawn logo, uploaded the way an operator would upload theirs."""
    image = Image.new("RGBA", (360, 110), (255, 255, 255, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((4, 10, 94, 100), radius=18, fill=(16, 122, 87, 255))
    draw.polygon([(56, 22), (30, 60), (48, 60), (40, 90), (68, 48), (50, 48)], fill="white")
    draw.text((110, 30), "VoltWay", fill=(16, 122, 87, 255), font_size=44)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return SimpleUploadedFile("voltway.png", buffer.getvalue(), content_type="image/png")
