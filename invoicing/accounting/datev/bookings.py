"""What a period books in DATEV: one booking per document and revenue account and VAT rate
(debtor against revenue, gross), credit notes on the opposite side, payments bank against
debtor. Every booking is complete in itself (Konto against Gegenkonto), so a batch balances.

The revenue account comes from the account map (RevenueAccount) for the supply's country,
VAT category, treatment and rate. A document line stores its rate, category and printed VAT
note but not where the supply took place, so the place is found again: among the document's
countries of delivery, the one whose tax rule (on the service period's last day, for the
recipient as frozen on the document) gives the line its rate and note. When several do (a
reverse charge in two countries prints the same note), the line's net is shared in proportion
to what the billed sessions of each of those countries cost in that category.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db.models import Sum

from cpo_portal.kernel.errors import InvalidInput
from cpo_portal.kernel.money import ZERO, round_money
from customers.models import Customer
from invoicing.accounting.models import DatevSettings, RevenueAccount
from invoicing.documents.models import Document, DocumentLine, DocumentStatus
from invoicing.payments.models import Payment
from invoicing.setup.models import DocumentKind, InvoicingSettings
from invoicing.tax.currencies import rate_on
from invoicing.tax.models import TaxCategory, TaxTreatment
from invoicing.tax.rules import TaxTable, decide, load_table, vat_id_country
from sessions.models import SessionChargeLine

EU_MEMBER_STATES = frozenset(
    {"AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU"}
    | {"IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK"}
)
# Pro forma documents are not invoices (another system issues those): never booked.
BOOKED_KINDS = (DocumentKind.INVOICE, DocumentKind.SALES_RECEIPT, DocumentKind.CREDIT_NOTE)
DEBIT, CREDIT = "S", "H"
TREATMENT_WORDS = {
    TaxTreatment.CHARGE: "VAT charged",
    TaxTreatment.REVERSE_CHARGE: "reverse charge",
    TaxTreatment.NO_VAT: "no VAT",
}


class UnmappedAccounts(InvalidInput):
    """The period has supplies the account map has no revenue account for; `missing` lists
    them (what to add under Invoicing → Revenue accounts)."""

    def __init__(self, missing: Sequence[str]):
        self.missing = list(missing)
        sentence = (
            "No revenue account is mapped for: " + "; ".join(self.missing) + ". "
            "Add them under Invoicing → Revenue accounts, then export again."
        )
        super().__init__(sentence, errors={"detail": [sentence], "unmapped": self.missing})


@dataclass(frozen=True, slots=True)
class Supply:
    """What the account map is asked: where, what, how taxed, at which rate."""

    country: str
    category: str
    treatment: str
    rate: Decimal

    def describe(self, chart: str) -> str:
        """E.g. "SKR 03 FR electricity, VAT charged, 20.00 %"."""
        how = TREATMENT_WORDS.get(self.treatment, self.treatment)
        return f"SKR {chart} {self.country} {self.category}, {how}, {self.rate} %"


@dataclass(slots=True)
class Booking:
    """One line of the booking batch: `amount` (positive) on `account`'s `side` against
    `contra`."""

    amount: Decimal
    side: str
    account: int
    contra: int
    bu_key: str
    day: date
    document_number: str
    text: str
    currency: str
    document_id: int | None = None
    credited_number: str = ""
    eu_country_vat_id: str = ""
    eu_rate: Decimal | None = None
    service_date: date | None = None
    # A booking in another currency than the operator's: DATEV's Kurs (units of `currency`
    # per unit of the base currency) and the amount in the base currency.
    exchange_rate: Decimal | None = None
    base_amount: Decimal | None = None
    base_currency: str = ""


@dataclass(frozen=True, slots=True)
class _Recipient:
    """The recipient as frozen on the document, in the shape the tax rules ask about."""

    vat_id: str
    kind: str = Customer.Kind.COMPANY


class AccountMap:
    """The chart's revenue accounts, looked up from the most to the least specific entry."""

    def __init__(self, chart: str, home_country: str, entries: Iterable[RevenueAccount]):
        self.chart = chart
        self.home = home_country.upper()
        self._entries = {
            (e.country, e.category, e.treatment, e.rate): e for e in entries if e.chart == chart
        }

    @classmethod
    def load(cls, settings: DatevSettings) -> AccountMap:
        return cls(
            settings.chart,
            settings.operator.country,
            RevenueAccount.objects.filter(chart=settings.chart),
        )

    def find(self, supply: Supply) -> RevenueAccount | None:
        countries = [supply.country]
        if supply.country in EU_MEMBER_STATES and supply.country != self.home:
            countries.append(RevenueAccount.OTHER_EU)
        countries.append(RevenueAccount.ANY_COUNTRY)
        for country in countries:
            for category in (supply.category, ""):
                for rate in (supply.rate, None):
                    entry = self._entries.get((country, category, supply.treatment, rate))
                    if entry is not None:
                        return entry
        return None


def booked_documents(*, settings: DatevSettings, first: date, last: date):
    """The operator's issued invoices, receipts and credit notes dated in the period."""
    return (
        Document.objects.filter(
            operator_id=settings.operator_id,
            kind__in=BOOKED_KINDS,
            issue_date__gte=first,
            issue_date__lte=last,
        )
        .exclude(status=DocumentStatus.DRAFT)
        .select_related("operator", "customer", "credited_document")
        .prefetch_related("lines")
        .order_by("issue_date", "id")
    )


def booked_payments(*, settings: DatevSettings, first: date, last: date):
    """Payments received in the period on the operator's documents."""
    return (
        Payment.objects.filter(
            document__operator_id=settings.operator_id, paid_on__gte=first, paid_on__lte=last
        )
        .select_related("document")
        .order_by("paid_on", "id")
    )


def _tax_category(vat_category: str) -> str:
    return TaxCategory.ELECTRICITY if vat_category == "electricity" else TaxCategory.SERVICES


def _countries(document: Document) -> list[str]:
    found = [c.strip().upper() for c in document.delivery_country.split(",") if c.strip()]
    return found or [document.operator.country.upper()]


def _session_weights(documents: Sequence[Document]) -> dict[int, dict[tuple[str, str], Decimal]]:
    """Per document, what its sessions cost per country and VAT category (net)."""
    several = [d.pk for d in documents if len(_countries(d)) > 1]
    weights: dict[int, dict[tuple[str, str], Decimal]] = defaultdict(dict)
    if not several:
        return weights
    rows = (
        SessionChargeLine.objects.filter(session__billings__document_id__in=several)
        .values(
            "session__billings__document_id", "session__evse__location__country", "vat_category"
        )
        .annotate(total=Sum("net"))
        .order_by()
    )
    for row in rows:
        key = (row["session__evse__location__country"].upper(), row["vat_category"])
        weights[row["session__billings__document_id"]][key] = row["total"] or ZERO
    return weights


def _places(
    document: Document,
    line: DocumentLine,
    *,
    table: TaxTable,
    invoicing: InvoicingSettings,
) -> list[tuple[str, str]]:
    """The (country, treatment) pairs whose tax rule gives this line its rate and note."""
    recipient = _Recipient(vat_id=document.recipient_vat_id or "")
    found = []
    for country in _countries(document):
        decision = decide(
            table,
            country=country,
            category=_tax_category(line.vat_category),
            on=document.period_end,
            customer=recipient,
            settings=invoicing,
        )
        if decision.rate == line.vat_rate and decision.note == (line.vat_note or ""):
            found.append((country, decision.treatment))
    return found


def _fallback_place(document: Document, line: DocumentLine) -> tuple[str, str]:
    """Where no rule explains a line (rules changed since it was issued): the single country
    of delivery (else the operator's), VAT charged when there is VAT, else a reverse charge
    for a business of another country, else no VAT."""
    countries = _countries(document)
    country = countries[0] if len(countries) == 1 else document.operator.country.upper()
    if line.vat_rate > 0:
        return country, TaxTreatment.CHARGE
    buyer = vat_id_country(document.recipient_vat_id) if document.recipient_vat_id else None
    if buyer is not None and buyer != country:
        return country, TaxTreatment.REVERSE_CHARGE
    return country, TaxTreatment.NO_VAT


def _split(total: Decimal, weights: Sequence[Decimal]) -> list[Decimal]:
    """`total` shared in proportion to `weights`, to the cent, the parts adding up exactly."""
    whole = sum(weights, ZERO)
    if not whole:
        return [total] + [ZERO] * (len(weights) - 1)
    parts = [round_money(total * w / whole) for w in weights]
    parts[max(range(len(parts)), key=lambda i: abs(weights[i]))] += total - sum(parts, ZERO)
    return parts


def document_supplies(
    document: Document,
    *,
    table: TaxTable,
    invoicing: InvoicingSettings,
    weights: dict[tuple[str, str], Decimal],
) -> list[tuple[Supply, str, Decimal]]:
    """The document's lines as (supply, printed VAT note, net) pieces; nets add up to the
    document's net total."""
    pieces = []
    for line in document.lines.all():
        places = _places(document, line, table=table, invoicing=invoicing)
        if not places:
            places = [_fallback_place(document, line)]
        shares = _split(
            line.net, [weights.get((country, line.vat_category), ZERO) for country, _ in places]
        )
        for (country, treatment), net in zip(places, shares, strict=True):
            supply = Supply(country, line.vat_category, treatment, line.vat_rate)
            pieces.append((supply, line.vat_note or "", net))
    return pieces


def _vat_by_row(document: Document) -> dict[tuple[Decimal, str], Decimal]:
    return {
        (Decimal(row["rate"]), row.get("note", "")): Decimal(row["vat"])
        for row in document.vat_summary or []
    }


def document_bookings(
    document: Document,
    *,
    debtor: int,
    accounts: AccountMap,
    pieces: Sequence[tuple[Supply, str, Decimal]],
) -> list[Booking]:
    """One booking per revenue account and VAT rate, gross: the net of its lines plus their
    share of the VAT of their rate (VAT stays computed per rate as on the document)."""
    groups: dict[tuple, dict] = {}
    row_nets: dict[tuple[Decimal, str], list[tuple[tuple, Decimal]]] = defaultdict(list)
    for supply, note, net in pieces:
        entry = accounts.find(supply)
        eu = supply.country in EU_MEMBER_STATES and supply.country != accounts.home
        # VAT charged in another EU country is booked per country (its rate goes with it).
        per_country = eu and supply.treatment == TaxTreatment.CHARGE
        key = (
            entry.account,
            entry.bu_key,
            supply.rate,
            supply.treatment,
            supply.country if per_country else "",
        )
        group = groups.setdefault(key, {"net": ZERO, "vat": ZERO, "supply": supply, "eu": eu})
        group["net"] += net
        row_nets[(supply.rate, note)].append((key, net))
    for row, vat in _vat_by_row(document).items():
        members = row_nets.get(row, [])
        if not members:
            continue
        for (key, _net), share in zip(
            members, _split(vat, [net for _key, net in members]), strict=True
        ):
            groups[key]["vat"] += share
    bookings = []
    credited = document.credited_document.display_number if document.credited_document else ""
    for (account, bu_key, rate, treatment, _country), group in groups.items():
        gross = group["net"] + group["vat"]
        if not gross:
            continue
        supply = group["supply"]
        text = document.recipient_name or str(document.customer)
        if credited:
            text = f"Credit note for {credited}, {text}"
        bookings.append(
            Booking(
                amount=abs(gross),
                side=DEBIT if gross > 0 else CREDIT,
                account=debtor,
                contra=account,
                bu_key=bu_key,
                day=document.issue_date,
                document_number=document.display_number,
                text=text,
                currency=document.currency,
                document_id=document.pk,
                credited_number=credited,
                eu_country_vat_id=_eu_field(document, supply, group["eu"]),
                eu_rate=rate if group["eu"] and treatment == TaxTreatment.CHARGE else None,
                service_date=document.period_end,
            )
        )
    return bookings


def _eu_field(document: Document, supply: Supply, eu: bool) -> str:
    """EU-Land u. UStID: the buyer's VAT ID on an EU reverse charge, the country of supply
    on VAT charged in another EU country."""
    if supply.treatment == TaxTreatment.REVERSE_CHARGE and document.recipient_vat_id:
        return document.recipient_vat_id.replace(" ", "")
    if eu and supply.treatment == TaxTreatment.CHARGE:
        return supply.country
    return ""


def payment_booking(payment: Payment, *, debtor: int, bank_account: int) -> Booking:
    """Money received: the bank debited, the customer's debtor account credited. Money given
    back (a negative allocation: a returned direct debit or chargeback reversing a payment, a
    refund paying out a credit note) is the opposite booking."""
    document = payment.document
    if payment.amount < 0:
        what = "Refund" if document.kind == DocumentKind.CREDIT_NOTE else "Reversal"
    else:
        what = "Payment"
    return Booking(
        amount=abs(payment.amount),
        side=DEBIT if payment.amount > 0 else CREDIT,
        account=bank_account,
        contra=debtor,
        bu_key="",
        day=payment.paid_on,
        document_number=document.display_number,
        text=f"{what} {document.display_number} {payment.reference}".strip(),
        currency=document.currency,
    )


def _planned(settings: DatevSettings, documents: Sequence[Document]):
    """The account map and each document's supply pieces, and the supplies it lacks."""
    accounts = AccountMap.load(settings)
    table = load_table()
    invoicing = settings.operator.invoicing_settings
    weights = _session_weights(documents)
    planned = []
    missing: set[Supply] = set()
    for document in documents:
        pieces = document_supplies(
            document, table=table, invoicing=invoicing, weights=weights.get(document.pk, {})
        )
        missing.update(supply for supply, _note, _net in pieces if accounts.find(supply) is None)
        planned.append((document, pieces))
    return accounts, planned, sorted(supply.describe(settings.chart) for supply in missing)


def unmapped_supplies(*, settings: DatevSettings, documents: Sequence[Document]) -> list[str]:
    """What the account map lacks for these documents, one sentence each (empty: complete)."""
    return _planned(settings, documents)[2]


def period_bookings(
    *,
    settings: DatevSettings,
    documents: Sequence[Document],
    payments: Sequence[Payment],
    debtors: dict[int, int],
) -> list[Booking]:
    """Every booking of the period, documents first (by date), then payments; refuses with
    the list of supplies the account map lacks."""
    accounts, planned, missing = _planned(settings, documents)
    if missing:
        raise UnmappedAccounts(missing)
    bookings = []
    for document, pieces in planned:
        bookings.extend(
            document_bookings(
                document, debtor=debtors[document.customer_id], accounts=accounts, pieces=pieces
            )
        )
    for payment in payments:
        bookings.append(
            payment_booking(
                payment,
                debtor=debtors[payment.document.customer_id],
                bank_account=settings.bank_account,
            )
        )
    state_base_amounts(bookings, base=settings.operator.currency)
    return bookings


RATE_DIGITS = Decimal("0.000001")  # DATEV's Kurs: up to six decimals


def state_base_amounts(bookings: Sequence[Booking], *, base: str) -> None:
    """Each booking in a foreign currency also in the base currency, at the table's rate on or
    before its date (the document's issue date, the day a payment came); refused naming the
    currency and day when the table has no rate."""
    rates: dict[tuple[str, date], Decimal] = {}
    for booking in bookings:
        if booking.currency.upper() == base.upper():
            continue
        key = (booking.currency, booking.day)
        if key not in rates:
            ours, theirs = rate_on(booking.currency, booking.day), rate_on(base, booking.day)
            rates[key] = (ours.rate / theirs.rate).quantize(RATE_DIGITS)
        booking.exchange_rate = rates[key]
        booking.base_amount = round_money(booking.amount / rates[key], currency=base)
        booking.base_currency = base.upper()
