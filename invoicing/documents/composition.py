"""What goes on a document: who gets which kind, its lines, VAT summary, totals and snapshots.

Pure decisions and arithmetic over plain values; the issuing services and the billing run
store what these functions compose, so per-session and monthly documents follow one set of rules.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db.models import Q
from django.utils import translation

from cpo_portal.kernel.errors import InvalidInput
from cpo_portal.kernel.money import ZERO, money_text, round_money, vat_breakdown
from cpo_portal.kernel.periods import local_date
from cpo_portal.kernel.tenancy import Operator
from customers.models import INVOICE_DETAIL_FIELDS, Customer
from customers.services import FIELD_LABELS, invoice_detail_errors
from invoicing.documents.models import RECIPIENT_FIELDS, Document, DocumentLine, DocumentOrigin
from invoicing.documents.receipts import missing_recipient_fields
from invoicing.setup.models import DocumentKind, InvoicingSettings, IssuingProfile
from invoicing.tax.currencies import MissingExchangeRate, vat_in_supply_currencies
from invoicing.tax.models import TaxCategory
from invoicing.tax.rules import TaxTable, decide, load_table, supplier_vat_id
from sessions.models import ChargingSession

Schedule = InvoicingSettings.IssuingSchedule
SERVICE_ORDER = [
    DocumentLine.Service.ENERGY,
    DocumentLine.Service.CHARGING_TIME,
    DocumentLine.Service.PARKING_TIME,
    DocumentLine.Service.CONNECTION_FEE,
    DocumentLine.Service.PRICE_ADJUSTMENT,
]
WALK_IN_KINDS = (Customer.Kind.ANONYMOUS, Customer.Kind.AD_HOC)
CONTRACT_KINDS = (Customer.Kind.INDIVIDUAL, Customer.Kind.COMPANY)


class InvoicingError(InvalidInput):
    """A document cannot be issued or changed; the message says why in the user's terms."""

    # The ids of the rules the document broke (e-invoice XSD/Schematron), shown to staff.
    failed_rules: Sequence[str] = ()


def issuing_schedule_of(*, customer: Customer, settings: InvoicingSettings) -> str:
    """A customer's schedule: collect-only wins, walk-in drivers are billed per session."""
    if settings.issuing_schedule == Schedule.COLLECT_ONLY:
        return Schedule.COLLECT_ONLY
    if customer.kind in WALK_IN_KINDS:
        return Schedule.PER_SESSION
    return customer.billing_mode or settings.issuing_schedule


def document_kind_for(*, customer: Customer, settings: InvoicingSettings) -> str | None:
    """Invoice (or pro forma) when the customer asks for one, else a sales receipt only with
    "always issue"; walk-in drivers never get an invoice addressed to them."""
    if settings.issuing_schedule == Schedule.COLLECT_ONLY:
        return None
    if customer.kind in CONTRACT_KINDS and customer.requires_invoice:
        return settings.document_type
    if settings.always_issue:
        return DocumentKind.SALES_RECEIPT
    return None


def issued_per_session(*, customer: Customer, settings: InvoicingSettings) -> bool:
    """Whether a completed session of this customer gets its own document right away."""
    return (
        issuing_schedule_of(customer=customer, settings=settings) == Schedule.PER_SESSION
        and document_kind_for(customer=customer, settings=settings) is not None
    )


def per_session_due(*, operator: Operator, sessions: Iterable[ChargingSession]) -> list[int]:
    """Ids of the ingested sessions whose customer gets a document after each session."""
    settings = operator.invoicing_settings
    return [
        session.pk
        for session in sessions
        if session.issuing_due and issued_per_session(customer=session.customer, settings=settings)
    ]


def customers_on_schedule(*, settings: InvoicingSettings, schedule: str) -> Q:
    """The same rules as `issuing_schedule_of` and `document_kind_for`, as a filter on customers
    (paths relative to Customer) selecting those who get documents on this schedule."""
    if settings.issuing_schedule == Schedule.COLLECT_ONLY:
        return Q(pk__in=[])
    gets_document = Q(requires_invoice=True) if not settings.always_issue else Q()
    contract = Q(kind__in=CONTRACT_KINDS) & gets_document
    on_schedule = Q(billing_mode=schedule)
    if settings.issuing_schedule == schedule:
        on_schedule |= Q(billing_mode=Customer.BillingMode.OPERATOR_DEFAULT)
    wanted = contract & on_schedule
    if schedule == Schedule.PER_SESSION and settings.always_issue:
        wanted |= Q(kind__in=WALK_IN_KINDS)
    return wanted


def recipient_errors(*, customer: Customer, kind: str, settings: InvoicingSettings) -> list[str]:
    """Why the customer's invoice details cannot go on a full invoice (empty when they can)."""
    return [
        f"{name}: {message}"
        for name, message in sorted(
            recipient_field_errors(customer=customer, kind=kind, settings=settings).items()
        )
    ]


def recipient_field_errors(
    *, customer: Customer, kind: str, settings: InvoicingSettings
) -> dict[str, str]:
    """Per invoice-detail field, why it cannot go on a full invoice: a name and a full address
    are always needed, the rest as the operator's mandatory-field settings say."""
    if kind not in (DocumentKind.INVOICE, DocumentKind.PRO_FORMA):
        return {}
    details = {name: getattr(customer, name) for name in INVOICE_DETAIL_FIELDS}
    errors = invoice_detail_errors(kind=customer.kind, details=details, settings=settings)
    for name in missing_recipient_fields(customer):
        errors.setdefault(name, f"The {FIELD_LABELS[name]} is required on an invoice.")
    return errors


def recipient_of(customer: Customer) -> dict[str, str]:
    """The recipient block frozen on a document (the anonymous customer has only a name)."""
    return {
        # A walk-in driver's receipt names no one (never "Anonymous customer").
        "recipient_name": "" if customer.kind == Customer.Kind.ANONYMOUS else customer.display_name,
        "recipient_company_registration_id": customer.company_registration_id,
        "recipient_vat_id": customer.vat_id,
        "recipient_street": customer.street,
        "recipient_postal_code": customer.postal_code,
        "recipient_city": customer.city,
        "recipient_country": customer.country,
        "recipient_email": customer.email,
    }


def profile_for(*, operator: Operator, settings: InvoicingSettings) -> IssuingProfile:
    """The operator's current supplier details and content options, stored once per content."""
    supplier = {
        name: getattr(operator, name)
        for name in (
            "name",
            "legal_name",
            "street",
            "postal_code",
            "city",
            "country",
            "vat_id",
            "tax_number",
            "email",
            "phone",
            "bank_details",
        )
    }
    if settings.iban.strip():
        # The account printed in the EPC QR code; only then, so other profiles keep their hash.
        supplier["iban"] = "".join(settings.iban.split()).upper()
        supplier["bic"] = settings.bic.strip()
    content = {
        name: getattr(settings, name)
        for name in (
            "show_country",
            "show_energy",
            "show_duration",
            "services_table",
            "breakdown_page",
            "services_label",
            "hide_energy",
            "notice",
            "custom_text",
            "auto_email",
        )
    }
    content["logo"] = settings.logo.name if settings.logo else ""
    digest = hashlib.sha256(
        json.dumps({"supplier": supplier, "content": content}, sort_keys=True).encode()
    ).hexdigest()
    profile, _created = IssuingProfile.objects.get_or_create(
        sha256=digest, defaults={"supplier": supplier, "content": content}
    )
    return profile


@dataclass(slots=True)
class ChargeGroup:
    """Charge lines of one or more sessions that share component, unit price and VAT rate."""

    component: str
    unit: str
    unit_price: Decimal
    vat_category: str
    vat_rate: Decimal
    quantity: Decimal
    net: Decimal
    session_id: int | None = None
    customer_id: int | None = None
    # Where and when the supply took place (the charge point's country and local end date):
    # the tax rules decide the rate from these; vat_note is what the document prints for it.
    country: str = ""
    ended_on: date | None = None
    vat_note: str = ""


def apply_tax_rules(
    groups: Sequence[ChargeGroup],
    *,
    customer: Customer,
    settings: InvoicingSettings,
    table: TaxTable | None = None,
) -> list[ChargeGroup]:
    """The groups at the rate the tax rules give for their place of supply and this customer
    (the tariff's own VAT stays in the session's OCPI totals), summed again per rate."""
    table = table or load_table()
    taxed: dict[tuple, ChargeGroup] = {}
    for g in groups:
        if g.ended_on is None:
            taxed[(id(g),)] = g
            continue
        category = (
            TaxCategory.ELECTRICITY if g.vat_category == "electricity" else TaxCategory.SERVICES
        )
        decision = decide(
            table,
            country=g.country,
            category=category,
            on=g.ended_on,
            customer=customer,
            settings=settings,
        )
        key = (
            g.component,
            g.unit,
            g.unit_price,
            g.vat_category,
            decision.rate,
            decision.note,
            g.session_id,
            g.customer_id,
        )
        found = taxed.get(key)
        if found is None:
            taxed[key] = ChargeGroup(
                component=g.component,
                unit=g.unit,
                unit_price=g.unit_price,
                vat_category=g.vat_category,
                vat_rate=decision.rate,
                quantity=g.quantity,
                net=g.net,
                session_id=g.session_id,
                customer_id=g.customer_id,
                vat_note=decision.note,
            )
        else:
            found.quantity += g.quantity
            found.net += g.net
    return list(taxed.values())


@dataclass(slots=True)
class SessionFacts:
    """What a document states about the sessions it bills."""

    session_id: int
    started_at: datetime
    ended_at: datetime
    energy_kwh: Decimal
    country: str
    currency: str


@dataclass
class DocumentDraft:
    """A document and its lines, composed but not stored."""

    document: Document
    lines: list[DocumentLine] = field(default_factory=list)
    session_ids: list[int] = field(default_factory=list)
    # Set once the issue hooks (documents/issue_hooks.py) checked it; what they prepared.
    prepared: bool = False
    attachments: dict = field(default_factory=dict)


def compose_lines(
    groups: Sequence[ChargeGroup], *, content: dict, language: str, currency: str | None = None
) -> list[DocumentLine]:
    """Detailed: a row per service and unit price, net = quantity x unit price (see
    _charge_lines); single row or hidden energy: one row per VAT rate labelled with the services
    label (quantity 1 at its net), so no kWh or per-kWh price shows. Nets carry the currency's
    minor units."""
    lines: list[DocumentLine] = []
    if content["hide_energy"] or content["services_table"] == "single":
        nets: dict[tuple[Decimal, str], Decimal] = {}
        categories: dict[tuple[Decimal, str], set[str]] = {}
        for g in groups:
            nets[(g.vat_rate, g.vat_note)] = nets.get((g.vat_rate, g.vat_note), ZERO) + g.net
            categories.setdefault((g.vat_rate, g.vat_note), set()).add(g.vat_category)
        for (rate, note), net in sorted(nets.items()):
            # One row per rate: energy and services at the same rate share it.
            key = (rate, note)
            (category,) = categories[key] if len(categories[key]) == 1 else {"services"}
            lines.append(
                DocumentLine(
                    service=DocumentLine.Service.CHARGING_SERVICES,
                    description=content["services_label"],
                    quantity=Decimal("1"),
                    unit=DocumentLine.Unit.PACKAGE,
                    unit_price=round_money(net, currency),
                    net=round_money(net, currency),
                    vat_category=category,
                    vat_rate=rate,
                    vat_note=note,
                    session_id=_single_session(groups),
                )
            )
    else:
        with translation.override(language):
            lines = _charge_lines(groups, currency)
    for position, line in enumerate(lines, start=1):
        line.position = position
    return lines


def _charge_lines(groups: Sequence[ChargeGroup], currency: str | None) -> list[DocumentLine]:
    """A row per service and unit price whose net is its quantity x unit price in the currency's
    minor units; what
    the sessions were charged beyond that (each session rounds each component to the cent, from
    its exact volume) goes on a "rounding to cents per session" row per VAT rate, so the document
    charges exactly what its sessions cost."""
    lines: list[DocumentLine] = []
    charged: dict[tuple, Decimal] = {}
    printed: dict[tuple, Decimal] = {}
    for g in sorted(
        groups, key=lambda g: (g.session_id or 0, SERVICE_ORDER.index(g.component), g.unit_price)
    ):
        net = round_money(g.quantity * g.unit_price, currency)
        lines.append(
            DocumentLine(
                service=g.component,
                description=str(DocumentLine.Service(g.component).label),
                quantity=g.quantity,
                unit=g.unit,
                unit_price=g.unit_price,
                net=net,
                vat_category=g.vat_category,
                vat_rate=g.vat_rate,
                vat_note=g.vat_note,
                session_id=g.session_id,
            )
        )
        key = (g.session_id or 0, g.vat_rate, g.vat_category, g.vat_note)
        charged[key] = charged.get(key, ZERO) + g.net
        printed[key] = printed.get(key, ZERO) + net
    rounding = DocumentLine.Service.ROUNDING
    for key in sorted(charged):
        session_id, rate, category, note = key
        # Sessions are priced in cents: a currency without them (JPY) rounds what they cost.
        difference = round_money(charged[key], currency) - printed[key]
        if difference:
            lines.append(
                DocumentLine(
                    service=rounding,
                    description=str(rounding.label),
                    quantity=Decimal("1"),
                    unit=DocumentLine.Unit.PACKAGE,
                    unit_price=difference,
                    net=difference,
                    vat_category=category,
                    vat_rate=rate,
                    vat_note=note,
                    session_id=session_id or None,
                )
            )
    return lines


def charged_exactly(line: DocumentLine) -> list[DocumentLine]:
    """A line charging `line.net`, printed so its net is quantity x unit price: when the two
    differ by rounding, the difference follows as a "rounding to cents" line at its VAT rate."""
    net = round_money(line.quantity * line.unit_price)
    difference = line.net - net
    line.net = net
    if not difference:
        return [line]
    rounding = DocumentLine.Service.ROUNDING
    return [
        line,
        DocumentLine(
            service=rounding,
            description=str(rounding.label),
            quantity=Decimal("1"),
            unit=DocumentLine.Unit.PACKAGE,
            unit_price=difference,
            net=difference,
            vat_category=line.vat_category,
            vat_rate=line.vat_rate,
            vat_note=line.vat_note,
            session_id=line.session_id,
        ),
    ]


def _single_session(groups: Sequence[ChargeGroup]) -> int | None:
    ids = {g.session_id for g in groups}
    return ids.pop() if len(ids) == 1 else None


def vat_summary(
    lines: Iterable[DocumentLine], currency: str | None = None
) -> tuple[list[dict], Decimal, Decimal]:
    """VAT per rate on the net sum of each rate (BR-CO-17), a row per rate and printed reason
    (a reverse charge and an exemption both at 0 % stay apart), in the currency's minor units;
    returns (summary, net, vat)."""
    by_note: dict[str, list[tuple[Decimal, Decimal]]] = {}
    for line in lines:
        by_note.setdefault(getattr(line, "vat_note", "") or "", []).append(
            (line.vat_rate, line.net)
        )
    rows = []
    for note, pairs in by_note.items():
        for rate, (net, vat) in vat_breakdown(pairs, currency).items():
            rows.append((rate, note, net, vat))
    rows.sort(key=lambda row: (row[0], row[1]))
    summary = []
    for rate, note, net, vat in rows:
        row = {"rate": str(rate), "net": str(net), "vat": str(vat), "gross": str(net + vat)}
        if note:
            row["note"] = note
        summary.append(row)
    total_net = sum((row[2] for row in rows), ZERO)
    total_vat = sum((row[3] for row in rows), ZERO)
    return summary, total_net, total_vat


def supply_currency_vat(
    *, summary: list[dict], currency: str, countries: Iterable[str], on_date: date
) -> list[dict]:
    """The VAT restated in each supply country's own currency (Art. 230), frozen on the
    document; without a rate on or before `on_date` the document cannot be issued yet."""
    try:
        return vat_in_supply_currencies(
            summary=summary, currency=currency, countries=countries, on_date=on_date
        )
    except MissingExchangeRate as exc:
        raise InvoicingError(f"{exc} The document is held until then.") from exc


def compose_document(
    *,
    kind: str,
    origin: str,
    customer: Customer,
    settings: InvoicingSettings,
    profile: IssuingProfile,
    groups: Sequence[ChargeGroup],
    sessions: Sequence[SessionFacts],
    issue_date: date,
    period: tuple[date, date] | None = None,
    grace_days: int | None = None,
    tax_table: TaxTable | None = None,
    registrations: Mapping[str, str] | None = None,
) -> DocumentDraft:
    """A draft document billing these sessions, with everything the law wants frozen on it.

    A batch (a billing chunk) passes the tax rules and the operator's VAT registrations it read
    once; a single document reads them itself."""
    operator = settings.operator
    currencies = {s.currency for s in sessions}
    if len(currencies) > 1:
        raise InvoicingError(
            f"Sessions in {', '.join(sorted(currencies))} cannot share one document."
        )
    language = customer.language or settings.default_language
    currency = currencies.pop() if currencies else operator.currency
    groups = apply_tax_rules(groups, customer=customer, settings=settings, table=tax_table)
    lines = compose_lines(groups, content=profile.content, language=language, currency=currency)
    summary, total_net, total_vat = vat_summary(lines, currency)
    if period is None:
        period = (
            min(local_date(s.started_at, operator.time_zone) for s in sessions),
            max(local_date(s.ended_at, operator.time_zone) for s in sessions),
        )
    grace = settings.payment_grace_days if grace_days is None else grace_days
    countries = {s.country for s in sessions} or {operator.country}
    stated = supply_currency_vat(
        summary=summary, currency=currency, countries=countries, on_date=issue_date
    )
    document = Document(
        operator=operator,
        kind=kind,
        origin=origin,
        customer=customer,
        profile=profile,
        language=language,
        currency=currency,
        issue_date=issue_date,
        due_date=issue_date + timedelta(days=grace),
        period_start=period[0],
        period_end=period[1],
        delivery_country=", ".join(sorted({s.country for s in sessions})),
        supplier_vat_id=supplier_vat_id(
            operator=operator, countries=countries, registrations=registrations
        ),
        session_count=len(sessions),
        total_energy_kwh=sum((s.energy_kwh for s in sessions), ZERO),
        total_duration_seconds=sum(
            int((s.ended_at - s.started_at).total_seconds()) for s in sessions
        ),
        vat_summary=summary,
        total_net=total_net,
        total_vat=total_vat,
        total_gross=total_net + total_vat,
        supply_currency_vat=stated,
        **recipient_of(customer),
    )
    return DocumentDraft(document, lines, [s.session_id for s in sessions])


def compose_credit_note(
    *, original: Document, reason: str, issue_date: date, profile: IssuingProfile
) -> DocumentDraft:
    """A full reversal of `original`: the same lines with negated quantities and amounts."""
    lines = [
        DocumentLine(
            position=line.position,
            service=line.service,
            description=line.description,
            session_id=line.session_id,
            quantity=-line.quantity,
            unit=line.unit,
            unit_price=line.unit_price,
            net=-line.net,
            vat_category=line.vat_category,
            vat_rate=line.vat_rate,
            vat_note=line.vat_note,
        )
        for line in original.lines.all()
    ]
    summary, total_net, total_vat = vat_summary(lines, original.currency)
    recipient = {name: getattr(original, name) for name in RECIPIENT_FIELDS}
    document = Document(
        operator=original.operator,
        kind=DocumentKind.CREDIT_NOTE,
        origin=DocumentOrigin.CORRECTION,
        customer=original.customer,
        credited_document=original,
        reason=reason,
        profile=profile,
        language=original.language,
        currency=original.currency,
        issue_date=issue_date,
        due_date=issue_date,
        period_start=original.period_start,
        period_end=original.period_end,
        delivery_country=original.delivery_country,
        supplier_vat_id=original.supplier_vat_id,
        session_count=original.session_count,
        total_energy_kwh=-original.total_energy_kwh,
        total_duration_seconds=-original.total_duration_seconds,
        vat_summary=summary,
        total_net=total_net,
        total_vat=total_vat,
        total_gross=total_net + total_vat,
        supply_currency_vat=_negated(original.supply_currency_vat),
        **recipient,
    )
    session_ids = list(original.billed_sessions.values_list("session_id", flat=True))
    return DocumentDraft(document, lines, session_ids)


def _negated(stated: list[dict]) -> list[dict]:
    """What the original stated in other currencies, reversed at the original's rates."""
    return [
        {
            **entry,
            "rows": [
                {**row, "vat": money_text(-Decimal(row["vat"]), entry["currency"])}
                for row in entry["rows"]
            ],
            "total_vat": money_text(-Decimal(entry["total_vat"]), entry["currency"]),
        }
        for entry in stated
    ]
