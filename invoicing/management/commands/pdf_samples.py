"""Render sample documents in every layout and language, as PDFs and PNG pictures.

`manage.py pdf_samples --out docs/images` refreshes the pictures in docs/documents.md. Like
bench_pdf it works in a scratch database that is dropped afterwards; pictures need pdftoppm
(Debian package poppler-utils).
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.test.utils import override_settings
from PIL import Image, ImageDraw

from invoicing.management.commands.bench_pdf import BENCH_TARIFFS, quiet_hooks, scratch_database

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
            scratch_database(tmp),
            override_settings(MEDIA_ROOT=str(Path(tmp) / "media")),
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
        subprocess.run(  # noqa: S603 - pdftoppm with our own arguments
            [*command, "-f", str(page), "-l", str(page), source, stem], check=True
        )
        with Image.open(f"{stem}.png") as picture:
            picture.convert("P", palette=Image.Palette.ADAPTIVE).save(png, optimize=True)

    def _render_all(self):
        from customers.models import Customer
        from invoicing.billing.runs import previous_period, run_billing
        from invoicing.documents.issuing import issue_session_documents, today_for
        from invoicing.models import Document, InvoicingSettings, Operator
        from invoicing.output import pdf
        from invoicing.setup.logos import prepare_logo
        from sessions.models import EVSE, Location
        from sessions.services import import_tariff, ingest_sessions

        with quiet_hooks():
            operator = Operator.objects.create(
                name="VoltWay",
                legal_name="VoltWay Charging GmbH",
                street="Invalidenstraße 117",
                postal_code="10115",
                city="Berlin",
                country="DE",
                vat_id="DE136695976",
                tax_number="30/123/45678",
                email="billing@voltway.example",
                phone="+49 30 1234567",
                bank_details="IBAN DE89 3704 0044 0532 0130 00 · BIC COBADEFFXXX",
            )
            settings_row = InvoicingSettings.objects.create(
                operator=operator,
                notice="Thank you for charging with VoltWay.",
                custom_text="VoltWay Charging GmbH · Amtsgericht Charlottenburg HRB 123456 B",
            )
            settings_row.logo.save("voltway.png", prepare_logo(_logo_upload()), save=True)
            location = Location.objects.create(
                operator=operator,
                name="Berlin Hauptbahnhof",
                street="Europaplatz 1",
                postal_code="10557",
                city="Berlin",
                country="DE",
                time_zone="Europe/Berlin",
            )
            evses = [
                EVSE.objects.create(location=location, evse_id=f"DE*VWY*E{n:05d}")
                for n in range(1, 5)
            ]
            tariffs = [import_tariff(operator=operator, data=t).ocpi_id for t in BENCH_TARIFFS]
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
            counter = 0
            for name, language, options, monthly, pages in SAMPLES:
                InvoicingSettings.objects.filter(pk=settings_row.pk).update(
                    **{**defaults, **options}
                )
                operator = Operator.objects.get(pk=operator.pk)
                receipt = options.get("always_issue", False)
                customer = Customer.objects.create(
                    operator=operator,
                    kind=Customer.Kind.INDIVIDUAL,
                    name={"ar": "عمر حداد", "el": "Ελένη Παπαδοπούλου"}.get(
                        language, "Anna Schmidt"
                    ),
                    email=f"{name}@example.org",
                    street="Musterstraße 4",
                    postal_code="10999",
                    city="Berlin",
                    country="DE",
                    language=language,
                    requires_invoice=not receipt,
                    billing_mode=Customer.BillingMode.MONTHLY
                    if monthly
                    else Customer.BillingMode.PER_SESSION,
                )
                count = 28 if monthly else 1
                first = (
                    datetime(period.year, period.month, 1, 7, tzinfo=UTC)
                    if monthly
                    else datetime.now(tz=UTC) - timedelta(hours=5)
                )
                payloads = []
                for n in range(count):
                    counter += 1
                    start = first + timedelta(hours=19 * n)
                    idle = (0, 12, 0, 30)[counter % 4]
                    payloads.append(
                        {
                            "source_id": f"SAMPLE-{counter}",
                            "evse_id": evses[counter % len(evses)].evse_id,
                            "tariff_id": tariffs[counter % len(tariffs)],
                            "start": start.isoformat(),
                            "end": (
                                start + timedelta(minutes=35 + counter % 90 + idle)
                            ).isoformat(),
                            "energy_kwh": str(Decimal(8000 + (counter * 7919) % 50000) / 1000),
                            "idle_minutes": idle,
                            "customer_id": customer.pk,
                        }
                    )
                outcomes = ingest_sessions(operator=operator, source="samples", payloads=payloads)
                ids = [o.session_id for o in outcomes]
                if monthly:
                    run = run_billing(operator=operator, period=period)
                    if run.errors.exists():
                        raise CommandError(f"{name}: {run.errors.first().message}")
                else:
                    issue_session_documents(session_ids=ids)
                document = Document.objects.get(customer=customer)
                yield name, pdf.render_pdf(document), pages


def _logo_upload():
    """A small drawn logo, uploaded the way an operator would upload theirs."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    image = Image.new("RGBA", (360, 110), (255, 255, 255, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((4, 10, 94, 100), radius=18, fill=(16, 122, 87, 255))
    draw.polygon([(56, 22), (30, 60), (48, 60), (40, 90), (68, 48), (50, 48)], fill="white")
    draw.text((110, 30), "VoltWay", fill=(16, 122, 87, 255), font_size=44)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return SimpleUploadedFile("voltway.png", buffer.getvalue(), content_type="image/png")
