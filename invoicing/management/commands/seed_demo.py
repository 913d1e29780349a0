"""Load the demo operator, locations, tariffs, customers and a few hundred priced sessions, once."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone
from tqdm import tqdm

from cpo_portal.kernel.periods import add_months, local_date, today_for
from customers.models import ChargingToken, Customer, EInvoiceFormat, Plan
from customers.services import get_anonymous_customer
from invoicing.billing.runs import run_billing
from invoicing.documents.issuing import issue_session_documents
from invoicing.models import (
    Chart,
    DatevSettings,
    ExchangeRate,
    InvoicingSettings,
    Operator,
    RevenueAccount,
    VatRegistration,
)
from invoicing.subscriptions.lifecycle import renew_subscriptions, subscribe
from invoicing.terminals.ingest import receive as receive_terminal
from invoicing.terminals.live import match_terminal
from invoicing.terminals.models import Terminal
from sessions.models import EVSE, ChargingSession, Location
from sessions.services import import_tariff, ingest_sessions

DEMO_OPERATOR = "VoltWay"

LOCATIONS = [
    ("Berlin Hauptbahnhof", "Europaplatz 1", "10557", "Berlin", "DE", "Europe/Berlin", "DE*VWY"),
    ("München Ost", "Orleansplatz 11", "81667", "München", "DE", "Europe/Berlin", "DE*VWY"),
    ("Paris Gare de Lyon", "Place Louis-Armand", "75012", "Paris", "FR", "Europe/Paris", "FR*VWY"),
    (
        "Athens Syntagma",
        "Plateia Syntagmatos 2",
        "10563",
        "Athina",
        "GR",
        "Europe/Athens",
        "GR*VWY",
    ),
    ("Zürich Hauptbahnhof", "Bahnhofplatz 15", "8001", "Zürich", "CH", "Europe/Zurich", "CH*VWY"),
]
# Charged in Swiss francs at the Zürich location only (a document has one currency).
CHF_TARIFF = {
    "country_code": "CH",
    "party_id": "VWY",
    "id": "CH-AC",
    "currency": "CHF",
    "elements": [
        {"price_components": [{"type": "ENERGY", "price": Decimal("0.52"), "step_size": 1}]},
    ],
    "last_updated": "2026-01-01T00:00:00Z",
}
# ECB-like euro reference rates, so documents state VAT in CHF or EUR offline; an operator
# imports the real ones with `manage.py import_exchange_rates`.
CHF_SESSIONS = 3
DEMO_RATES = {"CHF": "0.9350", "GBP": "0.8450", "NOK": "11.7000", "SEK": "11.1500"}

TARIFFS = [
    {
        "country_code": "DE",
        "party_id": "VWY",
        "id": "AC-STANDARD",
        "currency": "EUR",
        "tariff_alt_text": [{"language": "en", "text": "0.49/kWh, idle fee 0.10/min after"}],
        "elements": [
            {"price_components": [{"type": "ENERGY", "price": Decimal("0.49"), "step_size": 1}]},
            {
                "price_components": [
                    {"type": "PARKING_TIME", "price": Decimal("6.00"), "step_size": 60}
                ]
            },
        ],
        "last_updated": "2026-01-01T00:00:00Z",
    },
    {
        "country_code": "DE",
        "party_id": "VWY",
        "id": "DC-DAY-NIGHT",
        "currency": "EUR",
        "elements": [
            {
                "price_components": [
                    {"type": "FLAT", "price": Decimal("1.00"), "step_size": 1},
                ]
            },
            {
                "price_components": [
                    {"type": "ENERGY", "price": Decimal("0.69"), "step_size": 100}
                ],
                "restrictions": {"start_time": "07:00", "end_time": "22:00"},
            },
            {"price_components": [{"type": "ENERGY", "price": Decimal("0.55"), "step_size": 100}]},
            {
                "price_components": [
                    {"type": "PARKING_TIME", "price": Decimal("12.00"), "step_size": 300}
                ]
            },
        ],
        "max_price": {"excl_vat": Decimal("80.00"), "incl_vat": Decimal("95.20")},
        "last_updated": "2026-01-01T00:00:00Z",
    },
    {
        "country_code": "DE",
        "party_id": "VWY",
        "id": "AC-TIME",
        "currency": "EUR",
        "elements": [
            {
                "price_components": [
                    {"type": "TIME", "price": Decimal("2.40"), "step_size": 60},
                    {"type": "PARKING_TIME", "price": Decimal("3.00"), "step_size": 60},
                ]
            },
            {"price_components": [{"type": "ENERGY", "price": Decimal("0.25"), "step_size": 1}]},
        ],
        "min_price": {"excl_vat": Decimal("2.00"), "incl_vat": Decimal("2.38")},
        "last_updated": "2026-01-01T00:00:00Z",
    },
]


class Command(BaseCommand):
    help = "Load demo data (operator, settings, locations, tariffs, customers, sessions) once."

    def add_arguments(self, parser):
        parser.add_argument("--sessions", type=int, default=400, help="How many sessions.")
        parser.add_argument("--seed", type=int, default=2026, help="Random seed.")

    def handle(self, *args, sessions: int, seed: int, **options):
        if Operator.objects.filter(name=DEMO_OPERATOR).exists():
            self.stdout.write("Demo data already loaded; nothing changed.")
            return
        rng = random.Random(seed)  # noqa: S311 - reproducible demo data, not secrets
        # One transaction: an interrupted seed leaves nothing behind and simply runs again.
        with transaction.atomic():
            self._load(rng, sessions)

    def _load(self, rng: random.Random, sessions: int) -> None:
        operator = self._operator()
        evses = self._locations(operator)
        tariff_ids = [import_tariff(operator=operator, data=t).ocpi_id for t in TARIFFS]
        chf_tariff = import_tariff(operator=operator, data=CHF_TARIFF).ocpi_id
        token_uids = [driver.tokens.get().uid for driver in self._customers(operator)]
        self._exchange_rates(today_for(operator))

        now = timezone.now().replace(second=0, microsecond=0)
        payloads = []
        chf_sessions = min(CHF_SESSIONS, sessions)
        for n in range(sessions - chf_sessions):
            start = now - timedelta(minutes=rng.randint(90, 60 * 24 * 61))
            charging = timedelta(minutes=rng.randint(15, 240))
            idle = rng.choice([0, 0, 0, 5, 12, 30, 75])
            payload = {
                "source_id": f"DEMO-{n:05d}",
                "evse_id": rng.choice(evses).evse_id,
                "tariff_id": rng.choice(tariff_ids),
                "start": start.isoformat(),
                "end": (start + charging + timedelta(minutes=idle)).isoformat(),
                "energy_kwh": str(Decimal(rng.randint(2000, 75000)) / 1000),
                "idle_minutes": idle,
            }
            who = rng.random()
            if who < 0.75:
                payload["token_uid"] = rng.choice(token_uids)
            elif who < 0.85:
                payload["ad_hoc_email"] = f"adhoc{n}@example.org"
            payloads.append(payload)
        # Anna, billed after each session, charges in Zürich in CHF: her invoices state CHF
        # VAT; EUR sessions in Zürich state their VAT in CHF too, with the rate.
        zurich = [evse for evse in evses if evse.evse_id.startswith("CH*")]
        for n in range(chf_sessions):
            start = now - timedelta(days=3 + 7 * n, hours=2)
            payloads.append(
                {
                    "source_id": f"DEMO-CHF-{n}",
                    "evse_id": zurich[n % len(zurich)].evse_id,
                    "tariff_id": chf_tariff,
                    "start": start.isoformat(),
                    "end": (start + timedelta(minutes=50)).isoformat(),
                    "energy_kwh": str(Decimal(18 + 7 * n)),
                    "idle_minutes": 0,
                    "token_uid": token_uids[0],
                }
            )

        created = 0
        session_ids: list[int] = []
        with tqdm(total=len(payloads), desc="Demo sessions", unit="session") as progress:
            for start in range(0, len(payloads), 100):
                chunk = payloads[start : start + 100]
                outcomes = ingest_sessions(operator=operator, source="demo-cpms", payloads=chunk)
                created += sum(1 for o in outcomes if o.status == "created")
                session_ids += [o.session_id for o in outcomes if o.status == "created"]
                rejected = [o for o in outcomes if not o.ok]
                if rejected:
                    raise CommandError(f"A demo session was rejected: {rejected[0].errors}")
                progress.update(len(chunk))
        # Both schedules, as Celery would run them: documents right after each session, and
        # the monthly run for every month that is over; Jane is on a plan billed on its cycle.
        today = today_for(operator)
        plan = Plan.objects.create(
            operator=operator,
            name="VoltWay Flex",
            fee=Decimal("9.90"),
            energy_price=Decimal("0.39"),
            included_kwh=Decimal("10"),
        )
        jane = Customer.objects.get(operator=operator, email="jane@example.org")
        subscribe(customer=jane, plan=plan, start_date=(today - timedelta(days=62)).replace(day=1))
        # Per-session documents on the day each session ended, as the hourly task issues
        # them: last month has its own invoices and receipts (and its own DATEV batch).
        ended_on = defaultdict(list)
        for session_id, ended_at in ChargingSession.objects.filter(pk__in=session_ids).values_list(
            "id", "ended_at"
        ):
            ended_on[local_date(ended_at, operator.time_zone)].append(session_id)
        per_session = []
        for day in sorted(ended_on):
            per_session += issue_session_documents(session_ids=ended_on[day], issue_date=day)
        month = (today - timedelta(days=62)).replace(day=1)
        monthly = 0
        while month < today.replace(day=1):
            monthly += run_billing(operator=operator, period=month).documents_issued
            month = add_months(month, 1)
        renewals = renew_subscriptions(today=today)
        matched, in_review = self._terminals(operator, evses, tariff_ids[0], rng)
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo data loaded: {len(evses)} EVSEs in {len(LOCATIONS)} locations, "
                f"{len(TARIFFS)} tariffs, {Customer.objects.filter(operator=operator).count()} "
                f"customers, {created} priced sessions, {len(per_session)} per-session "
                f"documents, {monthly} monthly documents, {renewals} subscription invoices, "
                f"{matched} card payments matched and {in_review} in review."
            )
        )

    def _terminals(self, operator, evses, tariff_id, rng) -> tuple[int, int]:
        """A pay station for the first location's EVSEs and a terminal at one charger, with
        yesterday's ad-hoc sessions paid by card: most match, two equal ones wait in review,
        a failed start was reversed and one session went unpaid."""
        station = Terminal.objects.create(
            operator=operator, terminal_id="PAY-01", vendor="demo", time_zone=operator.time_zone
        )
        station.evses.set(evses[:3])
        single = Terminal.objects.create(
            operator=operator, terminal_id="TERM-04", vendor="demo", time_zone=operator.time_zone
        )
        single.evses.set(evses[3:4])
        day = timezone.now().replace(hour=7, minute=0, second=0, microsecond=0) - timedelta(days=1)
        payloads = []
        for n in range(24):
            evse = evses[n % 4]
            start = day + timedelta(minutes=35 * n + rng.randint(0, 10))
            payloads.append(
                {
                    "source_id": f"DEMO-ADHOC-{n:03d}",
                    "evse_id": evse.evse_id,
                    "tariff_id": tariff_id,
                    "start": start.isoformat(),
                    "end": (start + timedelta(minutes=rng.randint(20, 70))).isoformat(),
                    # Sessions 22 and 23 charge alike on two EVSEs of the pay station.
                    "energy_kwh": "21.500"
                    if n >= 22
                    else str(Decimal(rng.randint(5000, 40000)) / 1000),
                    "idle_minutes": 0,
                }
            )
        payloads[23]["evse_id"] = evses[1].evse_id
        payloads[23]["start"], payloads[23]["end"] = payloads[22]["start"], payloads[22]["end"]
        ingest_sessions(operator=operator, source="demo-cpms", payloads=payloads)
        sessions = ChargingSession.objects.filter(source_id__startswith="DEMO-ADHOC-")
        for session in sessions.select_related("evse").order_by("source_id"):
            if session.source_id == "DEMO-ADHOC-007":
                continue  # the terminal was offline: a session without payment
            terminal = "TERM-04" if session.evse_id == evses[3].pk else "PAY-01"
            skew = timedelta(seconds=40)  # the station's clock runs fast
            n = session.source_id[-3:]
            brand, last4 = rng.choice(
                [("VISA", "4242"), ("MASTERCARD", "5454"), ("GIROCARD", "0042")]
            )
            common = {
                "terminal_id": terminal,
                "currency": session.currency,
                "card_brand": brand,
                "card_last4": last4,
            }
            receive_terminal(
                dict(
                    common,
                    id=f"AUTH-{n}",
                    kind="authorization",
                    amount="50.00",
                    at=(session.started_at - timedelta(seconds=70) + skew).isoformat(),
                ),
                operator=operator,
                source="demo",
            )
            receive_terminal(
                dict(
                    common,
                    id=f"CAP-{n}",
                    kind="capture",
                    amount=str(session.total_gross),
                    authorization_id=f"AUTH-{n}",
                    authorization_code=f"{rng.randint(0, 999999):06d}",
                    at=(
                        session.ended_at + timedelta(seconds=rng.randint(20, 150)) + skew
                    ).isoformat(),
                ),
                operator=operator,
                source="demo",
            )
        failed = day + timedelta(hours=5)
        receive_terminal(
            {
                "id": "AUTH-FAILED",
                "terminal_id": "PAY-01",
                "kind": "authorization",
                "amount": "50.00",
                "currency": "EUR",
                "at": failed.isoformat(),
            },
            operator=operator,
            source="demo",
        )
        receive_terminal(
            {
                "id": "VOID-FAILED",
                "terminal_id": "PAY-01",
                "kind": "reversal",
                "amount": "50.00",
                "currency": "EUR",
                "authorization_id": "AUTH-FAILED",
                "at": (failed + timedelta(minutes=2)).isoformat(),
            },
            operator=operator,
            source="demo",
        )
        outcomes = [match_terminal(t.pk) for t in (station, single)]
        return sum(o["matched"] for o in outcomes), sum(o["review"] for o in outcomes)

    def _operator(self) -> Operator:
        operator = Operator.objects.create(
            name=DEMO_OPERATOR,
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
        InvoicingSettings.objects.create(
            operator=operator,
            always_issue=True,
            # Business customers get an e-invoice: Factur-X unless they ask for XRechnung.
            einvoice_format=EInvoiceFormat.FACTURX,
            iban="DE89370400440532013000",
            bic="COBADEFFXXX",
            electricity_vat_rate=Decimal("19.00"),
            services_vat_rate=Decimal("19.00"),
            notice="Thank you for charging with VoltWay.",
        )
        # Registered for VAT where it sells: French and Greek supplies print these IDs; the
        # VAT itself comes from the tax rules of the charge point's country.
        VatRegistration.objects.create(operator=operator, country="FR", vat_id="FR58399360817")
        VatRegistration.objects.create(operator=operator, country="GR", vat_id="EL094014201")
        # The accountant's DATEV numbers (DATEV's own sample consultant and client).
        DatevSettings.objects.create(
            operator=operator, consultant_number=29098, client_number=55003, initials="VW"
        )
        # Swiss charging is taxed in Switzerland: the accountant maps it to the third-country
        # revenue account (no default ships; docs/datev.md).
        for chart, account in ((Chart.SKR03, 8338), (Chart.SKR04, 4338)):
            RevenueAccount.objects.get_or_create(
                chart=chart,
                country="CH",
                category="",
                treatment="charge",
                rate=None,
                defaults={
                    "account": account,
                    "description": "Erlöse aus im Drittland steuerbaren Leistungen",
                },
            )
        return operator

    def _exchange_rates(self, today) -> None:
        ExchangeRate.objects.bulk_create(
            ExchangeRate(
                currency=currency,
                rate_date=today - timedelta(days=days),
                rate=Decimal(rate),
                source="ECB reference rate (demo)",
            )
            for currency, rate in DEMO_RATES.items()
            for days in range(0, 100)
            if (today - timedelta(days=days)).weekday() < 5
        )

    def _locations(self, operator: Operator) -> list[EVSE]:
        evses = []
        for index, (name, street, postal, city, country, tz, prefix) in enumerate(LOCATIONS):
            location = Location.objects.create(
                operator=operator,
                name=name,
                street=street,
                postal_code=postal,
                city=city,
                country=country,
                time_zone=tz,
            )
            for number in range(1, 4):
                evses.append(
                    EVSE.objects.create(
                        location=location,
                        evse_id=f"{prefix}*E{index + 1:02d}{number:03d}",
                        max_power_kw=Decimal("150.00") if number == 3 else Decimal("22.00"),
                    )
                )
        return evses

    def _customers(self, operator: Operator) -> list[Customer]:
        get_anonymous_customer(operator=operator)
        people = [
            ("Anna Schmidt", "anna@example.org", "de", "DE", "Berlin", "10117"),
            ("Luc Martin", "luc@example.org", "fr", "FR", "Paris", "75011"),
            ("Eleni Papadopoulou", "eleni@example.org", "el", "GR", "Athina", "10557"),
            ("Omar Haddad", "omar@example.org", "ar", "DE", "Berlin", "10999"),
            ("Jane Doe", "jane@example.org", "en", "DE", "München", "80331"),
        ]
        drivers = []
        for index, (name, email, lang, country, city, postal) in enumerate(people):
            drivers.append(
                Customer.objects.create(
                    operator=operator,
                    kind=Customer.Kind.INDIVIDUAL,
                    name=name,
                    email=email,
                    language=lang,
                    street=f"Musterstraße {index + 1}",
                    postal_code=postal,
                    city=city,
                    country=country,
                    requires_invoice=index % 2 == 0,
                    # Anna and Omar are billed after each session, the others monthly.
                    billing_mode=(
                        Customer.BillingMode.PER_SESSION
                        if index in (0, 3)
                        else Customer.BillingMode.OPERATOR_DEFAULT
                    ),
                )
            )
        drivers.append(
            Customer.objects.create(
                operator=operator,
                kind=Customer.Kind.COMPANY,
                name="Fleet desk",
                company_name="Logistik Nord GmbH",
                company_registration_id="HRB 123456",
                vat_id="DE811907980",
                street="Hafenstraße 10",
                postal_code="20457",
                city="Hamburg",
                country="DE",
                email="fleet@logistik-nord.example",
                language="de",
                requires_invoice=True,
                billing_mode=Customer.BillingMode.MONTHLY,
                einvoice_format=EInvoiceFormat.XRECHNUNG_CII,
                buyer_reference="04011000-12345-34",
            )
        )
        # A French fleet: charging in Germany or Greece it gets a reverse-charge invoice (its
        # VAT ID is of another country than the charge point's), in France French VAT.
        drivers.append(
            Customer.objects.create(
                operator=operator,
                kind=Customer.Kind.COMPANY,
                name="Service flotte",
                company_name="Transports Rapides SARL",
                vat_id="FR40303265045",
                street="12 rue de Rivoli",
                postal_code="75004",
                city="Paris",
                country="FR",
                email="flotte@transports-rapides.example",
                language="fr",
                requires_invoice=True,
                billing_mode=Customer.BillingMode.MONTHLY,
                # Its monthly invoice is a Factur-X PDF (the XML inside), the German fleet's
                # an XRechnung CII beside the PDF.
                einvoice_format=EInvoiceFormat.FACTURX,
            )
        )
        for index, driver in enumerate(drivers):
            ChargingToken.objects.create(
                customer=driver, kind=ChargingToken.Kind.RFID, uid=f"04DE{index:010X}"
            )
        return drivers
