"""A month for the accountant's DATEV: the booking batch and the debtor master data in one ZIP."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from datetime import date, datetime

from django.utils import timezone

from cpo_portal.kernel.errors import InvalidInput
from cpo_portal.kernel.periods import add_months, period_bounds
from cpo_portal.kernel.tenancy import Operator
from customers.models import Customer
from invoicing.accounting.datev import format as extf
from invoicing.accounting.datev.bookings import (
    Booking,
    UnmappedAccounts,
    booked_documents,
    booked_payments,
    period_bookings,
    unmapped_supplies,
)
from invoicing.accounting.datev.debtors import debtor_accounts, is_walk_in
from invoicing.accounting.models import DatevSettings
from invoicing.tax.rules import vat_id_country

# DATEV's language codes (Debitoren/Kreditoren, field "Sprache"); others stay empty.
DATEV_LANGUAGES = {"de": 1, "fr": 4, "en": 5, "es": 10, "it": 19}
WALK_IN_NAME = "Walk-in customers (anonymous and ad-hoc)"


class DatevNotSetUp(InvalidInput):
    """The operator has no DATEV settings (consultant and client numbers) yet."""


@dataclass(frozen=True)
class DatevExport:
    """The ZIP's name and bytes, and what it holds."""

    filename: str
    content: bytes
    bookings: int
    debtors: int


def datev_settings(operator: Operator) -> DatevSettings:
    """The operator's DATEV settings, or a sentence saying where to enter them."""
    try:
        return DatevSettings.objects.select_related("operator__invoicing_settings").get(
            operator=operator
        )
    except DatevSettings.DoesNotExist:
        raise DatevNotSetUp(
            f"{operator} has no DATEV settings yet: enter the consultant and client numbers "
            "under Invoicing → DATEV settings.",
            field="operator",
        ) from None


def fiscal_year_start(settings: DatevSettings, day: date) -> date:
    """The first day of the fiscal year `day` falls in."""
    start = date(day.year, settings.fiscal_year_start_month, 1)
    return start if start <= day else add_months(start, -12)


def export_datev(*, operator: Operator, period: date, now: datetime | None = None) -> DatevExport:
    """The month's bookings (issued invoices, receipts and credit notes by issue date, payments
    by the day they were received) and the master data of every debtor they book on; refused
    with the list of what to map when the account map lacks a revenue account."""
    settings = datev_settings(operator)
    _start, _end, first, last = period_bounds(period, operator.time_zone)
    documents = list(booked_documents(settings=settings, first=first, last=last))
    payments = list(booked_payments(settings=settings, first=first, last=last))
    customer_ids = {d.customer_id for d in documents} | {p.document.customer_id for p in payments}
    customers = list(Customer.objects.filter(pk__in=customer_ids).order_by("pk"))
    # The account map is checked before any debtor number is handed out.
    if missing := unmapped_supplies(settings=settings, documents=documents):
        raise UnmappedAccounts(missing)
    debtors = debtor_accounts(settings=settings, customers=customers)
    bookings = period_bookings(
        settings=settings, documents=documents, payments=payments, debtors=debtors
    )
    header = extf.BatchHeader(
        consultant_number=settings.consultant_number,
        client_number=settings.client_number,
        fiscal_year_start=fiscal_year_start(settings, first),
        account_length=settings.account_length,
        chart=settings.chart,
        date_from=first,
        date_to=last,
        label=f"Revenue {period:%Y-%m}",
        initials=settings.initials.upper(),
        currency=operator.currency,
        locked=settings.lock_bookings,
        created_at=timezone.localtime(now or timezone.now()),
    )
    batch = extf.write_file(
        header,
        category=extf.BOOKING_CATEGORY,
        name=extf.BOOKING_FORMAT,
        version=extf.BOOKING_VERSION,
        columns=extf.BOOKING_COLUMNS,
        rows=(booking_row(b) for b in bookings),
    )
    master = extf.write_file(
        header,
        category=extf.DEBTOR_CATEGORY,
        name=extf.DEBTOR_FORMAT,
        version=extf.DEBTOR_VERSION,
        columns=extf.DEBTOR_COLUMNS,
        rows=debtor_rows(settings, customers, debtors),
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"EXTF_Buchungsstapel_{period:%Y-%m}.csv", batch)
        archive.writestr(f"EXTF_Debitoren_{period:%Y-%m}.csv", master)
    return DatevExport(
        filename=f"DATEV_{settings.client_number}_{period:%Y-%m}.zip",
        content=buffer.getvalue(),
        bookings=len(bookings),
        debtors=len(set(debtors.values())),
    )


def booking_row(booking: Booking) -> dict[str, object]:
    """A booking in the batch's columns (DATEV "Buchungsstapel")."""
    row: dict[str, object] = {
        "Umsatz (ohne Soll/Haben-Kz)": extf.amount(booking.amount),
        "Soll/Haben-Kennzeichen": booking.side,
        "WKZ Umsatz": booking.currency,
        "Konto": booking.account,
        "Gegenkonto (ohne BU-Schlüssel)": booking.contra,
        "BU-Schlüssel": booking.bu_key,
        "Belegdatum": extf.day_month(booking.day),
        "Belegfeld 1": extf.belegfeld(booking.document_number),
        "Buchungstext": extf.text(booking.text, extf.BUCHUNGSTEXT_LENGTH),
    }
    if booking.credited_number:
        row["Beleginfo - Art 1"] = "Credited document"
        row["Beleginfo - Inhalt 1"] = extf.text(booking.credited_number, extf.BELEGINFO_LENGTH)
    if booking.eu_country_vat_id:
        row["EU-Land u. UStID (Bestimmung)"] = booking.eu_country_vat_id
    if booking.eu_rate is not None:
        row["EU-Steuersatz (Bestimmung)"] = extf.amount(booking.eu_rate)
    if booking.service_date is not None:
        row["Leistungsdatum"] = extf.full_date(booking.service_date)
    if booking.exchange_rate is not None:
        row["Kurs"] = extf.rate(booking.exchange_rate)
        row["Basis-Umsatz"] = extf.amount(booking.base_amount)
        row["WKZ Basis-Umsatz"] = booking.base_currency
    return row


def debtor_rows(
    settings: DatevSettings, customers: list[Customer], debtors: dict[int, int]
) -> list[dict[str, object]]:
    """One master-data row per named customer, and one for the walk-in debtor when used."""
    rows = [debtor_row(c, debtors[c.pk]) for c in customers if not is_walk_in(c)]
    if any(is_walk_in(c) for c in customers):
        rows.append(
            {
                "Konto": settings.walk_in_debtor,
                "Name (Adressatentyp keine Angabe)": WALK_IN_NAME,
                "Adressatentyp": "0",
                "Kurzbezeichnung": WALK_IN_NAME[:15],
            }
        )
    return sorted(rows, key=lambda row: row["Konto"])


def debtor_row(customer: Customer, account: int) -> dict[str, object]:
    """A customer in the master data's columns (DATEV "Debitoren/Kreditoren")."""
    company = customer.kind == Customer.Kind.COMPANY and bool(customer.company_name)
    name = customer.company_name if company else customer.display_name
    row: dict[str, object] = {
        "Konto": account,
        "Adressatentyp": "2" if company else "1",
        "Kurzbezeichnung": extf.text(name, 15),
        "Adressart": "STR" if customer.street else "",
        "Straße": extf.text(customer.street, 36),
        "Postleitzahl": extf.text(customer.postal_code, 10),
        "Ort": extf.text(customer.city, 30),
        "Land": customer.country,
        "E-Mail": extf.text(customer.email, 60),
        "Kundennummer": str(customer.pk),
    }
    row[
        "Name (Adressatentyp Unternehmen)" if company else "Name (Adressatentyp natürl. Person)"
    ] = extf.text(name, 50 if company else 30)
    country = vat_id_country(customer.vat_id) if customer.vat_id else None
    if country is not None:
        compact = customer.vat_id.replace(" ", "").upper()
        row["EU-Mitgliedstaat"] = compact[:2]
        row["EU-USt-IdNr."] = compact[2:]
    if language := DATEV_LANGUAGES.get((customer.language or "")[:2]):
        row["Sprache"] = extf.Digits(str(language))
    return row
