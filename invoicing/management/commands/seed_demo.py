"""Load the demo operator VoltWay, once: half a year of charging by a few hundred customers,
with its documents issued on the days they would have been, paid, partly paid, overdue,
credited and corrected, as the product's services (and its scheduled tasks) would have."""

from __future__ import annotations

import random
import time as clock
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone
from schwifty import IBAN
from tqdm import tqdm

from cpo_portal.kernel.integrations.models import Integrator
from cpo_portal.kernel.money import round_money
from cpo_portal.kernel.periods import add_months, local_date, today_for
from customers.models import ChargingToken, Customer, EInvoiceFormat, Plan
from customers.notifications.models import OutboundMessage
from customers.services import get_anonymous_customer
from invoicing.billing.runs import run_billing
from invoicing.dashboard.summaries import rebuild_months
from invoicing.documents.actions import RECORD_PAYMENT, allowed_actions
from invoicing.documents.issuing import (
    correct_recipient_details,
    issue_credit_note,
    issue_session_documents,
)
from invoicing.models import (
    Chart,
    DatevSettings,
    Document,
    DocumentKind,
    DocumentStatus,
    ExchangeRate,
    InvoicingSettings,
    Operator,
    RevenueAccount,
    VatRegistration,
)
from invoicing.payments import ledger
from invoicing.payments.collections import collect
from invoicing.payments.mandates import give_mandate
from invoicing.payments.models import MandateSource, PaymentMethod, TransactionKind
from invoicing.payments.providers import provider
from invoicing.payments.providers.demo import notification, unsign
from invoicing.payments.recording import record_payment
from invoicing.payments.statements import (
    Credit,
    import_statement,
    receive_statement,
    write_camt053,
)
from invoicing.subscriptions.lifecycle import (
    check_subscription_payments,
    renew_subscriptions,
    subscribe,
)
from invoicing.terminals.ingest import receive as receive_terminal
from invoicing.terminals.live import match_terminal
from invoicing.terminals.models import Terminal
from sessions.metering.simulator import SimulatedMeter
from sessions.models import EVSE, ChargingSession, Location, SignedMeterData
from sessions.services import import_tariff, ingest_sessions

from ._demo_world import (
    FIRST_NAMES,
    FLEET_STREETS,
    FLEETS,
    HOME_WEIGHTS,
    HOMES,
    LANGUAGE,
    LAST_NAMES,
    LOCATIONS,
    STREETS,
    Card,
    ascii_name,
    drive,
    french_vat_id,
    german_vat_id,
)

DEMO_OPERATOR = "VoltWay"
DEMO_SOURCE = "demo-cpms"
# The named drivers' mobile numbers (E.164), in the order of the named drivers.
DEMO_MOBILES = (
    "+4915112345600",
    "+33612345601",
    "+306912345602",
    "+4915112345603",
    "+447911123404",
    "+4915112345605",
)
# Locations (by position in LOCATIONS) whose chargers are calibration-law relevant.
METERED_LOCATIONS = (0, 1)
# Banks whose codes give real BICs for the made-up accounts of the direct-debit customers.
BANK_CODES = ["10070000", "20050550", "37050198", "50010517", "70150000"]
# How customers pay: on time, after the due date, in part, or not at all (then overdue).
PAYERS = [("prompt", 86), ("late", 7), ("partial", 4), ("never", 3)]
OPEN = (DocumentStatus.ISSUED, DocumentStatus.OVERDUE)
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


class Demo:
    """What the seed built so far, and the days' work still to do."""

    def __init__(self, operator: Operator, rng: random.Random, today: date):
        self.operator = operator
        self.rng = rng
        self.today = today
        self.payer: dict[int, str] = {}  # customer id -> PAYERS kind
        self.channel: dict[int, str] = {}  # customer id -> transfer, manual, card
        self.mandate_from: dict[int, date] = {}  # customer id -> first day collected by debit
        self.mandates: dict[date, list[Customer]] = defaultdict(list)
        self.partial: set[int] = set()  # customers who paid a document in part
        self.events: dict[date, list[tuple]] = defaultdict(list)
        self.statement: list[Credit] = []
        self.counts: dict[str, int] = defaultdict(int)


class Command(BaseCommand):
    help = (
        "Load the demo operator VoltWay once: half a year of charging by a few hundred "
        "customers, its documents, payments, corrections, subscriptions and card terminals."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--customers", type=int, default=220, help="Registered customers (at least 20)."
        )
        parser.add_argument("--months", type=int, default=6, help="Months of history (1-12).")
        parser.add_argument("--seed", type=int, default=2026, help="Random seed.")

    def handle(self, *args, customers: int, months: int, seed: int, **options):
        if Operator.objects.filter(name=DEMO_OPERATOR).exists():
            self.stdout.write("Demo data already loaded; nothing changed.")
            return
        if customers < 20 or not 1 <= months <= 12:
            raise CommandError("Give at least 20 customers and 1 to 12 months.")
        started = clock.monotonic()
        rng = random.Random(seed)  # noqa: S311 - reproducible demo data, not secrets
        # One transaction: an interrupted seed leaves nothing behind and simply runs again.
        with transaction.atomic():
            summary = self._load(rng, customers, months)
        self.stdout.write(
            self.style.SUCCESS(f"{summary} Loaded in {clock.monotonic() - started:.0f} s.")
        )

    def _load(self, rng: random.Random, customers: int, months: int) -> str:
        operator = self._operator()
        today = today_for(operator)
        demo = Demo(operator, rng, today)
        first = add_months(today.replace(day=1), -months)
        evses = self._locations(operator)
        meters = self._meters(evses)
        tariffs = {t["id"]: import_tariff(operator=operator, data=t).ocpi_id for t in TARIFFS}
        chf_tariff = import_tariff(operator=operator, data=CHF_TARIFF).ocpi_id
        self._exchange_rates(first, today)
        cards = self._customers(demo, customers, first)
        self._subscriptions(demo, first)
        Integrator.objects.create(
            operator=operator, name="VoltWay CPMS (development)", session_source=DEMO_SOURCE
        )

        now = timezone.now().replace(second=0, microsecond=0)
        payloads = self._chf_sessions(evses, chf_tariff, now, cards)
        for uid, card in cards.items():
            for evse, start, end, energy, idle in drive(
                card, rng=rng, first=first, last=today, evses=evses, now=now
            ):
                payloads.append(self._payload(evse, tariffs, start, end, energy, idle, uid))
        # Drivers without a contract: paid on the web (their e-mail) or anonymously.
        walk_in = Card(
            uid="",
            home=list(range(len(LOCATIONS))),
            monthly_kwh=600,
            dc_share=0.5,
            active_from=first,
            trips=False,
        )
        for n, (evse, start, end, energy, idle) in enumerate(
            drive(walk_in, rng=rng, first=first, last=today, evses=evses, now=now)
        ):
            payload = self._payload(evse, tariffs, start, end, energy, idle, None)
            if n % 3:
                payload["ad_hoc_email"] = (
                    f"{rng.choice(['driver', 'ev', 'tesla', 'zoe'])}{n}@example.net"
                )
            payloads.append(payload)
        payloads.sort(key=lambda p: p["start"])
        for n, payload in enumerate(payloads):
            payload["source_id"] = f"DEMO-{n:06d}"
        self._sign(payloads, meters, tamper_last=True)
        session_ids = self._ingest(operator, payloads)
        ended_on = defaultdict(list)
        for session_id, ended_at in ChargingSession.objects.filter(pk__in=session_ids).values_list(
            "id", "ended_at"
        ):
            ended_on[local_date(ended_at, operator.time_zone)].append(session_id)

        self._replay(demo, first, ended_on)
        self._checkout(demo)
        collection = self._collection(demo)
        matched, in_review = self._terminals(
            operator, [e for group in evses for e in group], tariffs["AC-STANDARD"], rng, meters
        )
        # The dashboard's charts read monthly summaries; Beat keeps only the last two current.
        rebuild_months(first, today.replace(day=1), operator.time_zone)
        documents = Document.objects.filter(operator=operator)
        quarantined = ChargingSession.objects.filter(
            operator=operator, quarantine=ChargingSession.Quarantine.OPEN
        )
        return (
            f"Demo data loaded: {sum(map(len, evses))} EVSEs in {len(LOCATIONS)} locations, "
            f"{len(TARIFFS)} tariffs, {Customer.objects.filter(operator=operator).count()} "
            f"customers ({len(cards)} cards), {len(session_ids) - quarantined.count()} priced "
            "sessions, "
            f"{documents.count()} documents "
            f"({documents.filter(status=DocumentStatus.PAID).count()} paid, "
            f"{documents.filter(amount_paid__gt=0, status__in=OPEN).count()} partly paid, "
            f"{documents.filter(status=DocumentStatus.OVERDUE).count()} overdue, "
            f"{documents.filter(status=DocumentStatus.CREDITED).count()} credited), "
            f"{demo.counts['statements']} bank statements, a direct-debit run of "
            f"{collection.collection_count}, "
            f"{OutboundMessage.objects.filter(customer__operator=operator).count()} messages in "
            f"the outbox, {matched} card payments matched and {in_review} in review, "
            f"{SignedMeterData.objects.filter(session__operator=operator).count()} sessions with "
            f"signed meter data ({quarantined.count()} quarantined)."
        )

    # --- sessions ----------------------------------------------------------------------------

    def _payload(self, evse, tariffs, start, end, energy, idle, uid) -> dict:
        payload = {
            "evse_id": evse.evse_id,
            "tariff_id": tariffs[evse.tariff],
            "start": start.isoformat(),
            "end": end.isoformat(),
            "energy_kwh": str(energy),
            "idle_minutes": idle,
        }
        if uid:
            payload["token_uid"] = uid
        return payload

    def _chf_sessions(self, evses, chf_tariff, now, cards) -> list[dict]:
        """Anna, billed after each session, charges in Zürich in CHF on three trips: her
        invoices state CHF VAT; EUR sessions in Zürich state their VAT in CHF too."""
        anna = next(iter(cards.values()))
        zurich = evses[4]
        payloads = []
        for n in range(3):
            start = now - timedelta(days=3 + 7 * n, hours=2)
            anna.fixed.append(local_date(start, "Europe/Berlin"))
            payloads.append(
                {
                    "evse_id": zurich[n % len(zurich)].evse_id,
                    "tariff_id": chf_tariff,
                    "start": start.isoformat(),
                    "end": (start + timedelta(minutes=50)).isoformat(),
                    "energy_kwh": str(Decimal(18 + 7 * n)),
                    "idle_minutes": 0,
                    "token_uid": anna.uid,
                }
            )
        return payloads

    def _meters(self, evses) -> dict[str, SimulatedMeter]:
        """Berlin's and München's chargers are calibration-law relevant (Eichrecht): each has a
        meter that signs its readings, its public key registered on the EVSE."""
        meters = {}
        for index in METERED_LOCATIONS:
            for evse in evses[index]:
                meter = SimulatedMeter(serial=f"VWY-EMH-{evse.pk:05d}")
                evse.calibration_law_relevant = True
                evse.meter_public_key = meter.public_key_hex
                evse.save(update_fields=["calibration_law_relevant", "meter_public_key"])
                meters[evse.evse_id] = meter
        return meters

    def _sign(self, payloads, meters, *, tamper_last: bool = False) -> None:
        """Sessions at those chargers carry the begin and end records their meter signed; the
        last one's end record was altered on the way, so the demo has one quarantined session."""
        counters = dict.fromkeys(meters, 3_000_000)  # Wh on each meter before the demo
        signed = []
        for payload in payloads:
            meter = meters.get(payload["evse_id"])
            if meter is None:
                continue
            wh = int(Decimal(payload["energy_kwh"]) * 1000)
            start_wh = counters[payload["evse_id"]]
            counters[payload["evse_id"]] = start_wh + wh
            payload["ocmf"] = list(
                meter.transaction(
                    start=datetime.fromisoformat(payload["start"]),
                    end=datetime.fromisoformat(payload["end"]),
                    start_wh=start_wh,
                    end_wh=start_wh + wh,
                    identification=payload.get("token_uid", ""),
                )
            )
            signed.append((payload, start_wh + wh))
        if tamper_last and signed:
            payload, end_wh = signed[-1]
            payload["ocmf"][1] = payload["ocmf"][1].replace(
                f'"RV":{end_wh},', f'"RV":{end_wh + 1000},'
            )

    def _ingest(self, operator, payloads) -> list[int]:
        session_ids: list[int] = []
        with tqdm(total=len(payloads), desc="Demo sessions", unit="session") as progress:
            for start in range(0, len(payloads), 500):
                chunk = payloads[start : start + 500]
                outcomes = ingest_sessions(operator=operator, source=DEMO_SOURCE, payloads=chunk)
                rejected = [o for o in outcomes if not o.ok]
                if rejected:
                    raise CommandError(f"A demo session was rejected: {rejected[0].errors}")
                session_ids += [o.session_id for o in outcomes if o.status == "created"]
                progress.update(len(chunk))
        return session_ids

    # --- the half year, day by day -----------------------------------------------------------

    def _replay(self, demo: Demo, first: date, ended_on) -> None:
        """Each day as the scheduled tasks would have run it: per-session documents at session
        end, the monthly run on the 1st, renewals, then what customers and staff did that day
        (payments, a weekly bank statement, credit notes, corrections), then overdue marking,
        reminders and suspensions."""
        operator = demo.operator
        seen = 0
        day = first
        with tqdm(total=(demo.today - first).days + 1, desc="Demo days", unit="day") as progress:
            while day <= demo.today:
                if ended_on.get(day):
                    issue_session_documents(session_ids=ended_on[day], issue_date=day)
                if day.day == 1 and day > first:
                    run_billing(operator=operator, period=add_months(day, -1), issue_date=day)
                renew_subscriptions(today=day)
                new = list(
                    Document.objects.filter(operator=operator, pk__gt=seen)
                    .exclude(kind=DocumentKind.CREDIT_NOTE)
                    .select_related("customer")
                    .order_by("pk")
                )
                seen = max([seen] + [d.pk for d in new])
                for document in new:
                    self._plan_fate(demo, document)
                for customer in demo.mandates.pop(day, []):
                    self._mandate(demo, customer, day)
                for event in sorted(demo.events.pop(day, []), key=lambda e: e[1]):
                    self._act(demo, day, *event)
                if demo.statement and (day.weekday() == 4 or day == demo.today):
                    self._book_statement(demo, day)
                check_subscription_payments(
                    today=day,
                    now=datetime.combine(day, time(9), ZoneInfo(operator.time_zone)),
                )
                day += timedelta(days=1)
                progress.update(1)

    def _plan_fate(self, demo: Demo, document: Document) -> None:
        """Decide when this document is paid (or credited, corrected) by its customer."""
        rng, counts = demo.rng, demo.counts
        customer = document.customer
        issued = document.issue_date
        if document.outstanding <= 0 or RECORD_PAYMENT not in allowed_actions(document):
            return
        monthly = document.billing_run_id is not None
        # A few of each correction, the first ones as soon as a monthly invoice allows.
        if monthly and document.kind == DocumentKind.INVOICE:
            draw = rng.random()
            if counts["credit"] < 1 or draw < 0.006:
                counts["credit"] += 1
                demo.events[issued + timedelta(days=3)].append(("credit", document.pk))
                return
            if counts["reissue"] < 1 or draw < 0.012:
                counts["reissue"] += 1
                demo.events[issued + timedelta(days=4)].append(("reissue", document.pk))
                return
            if counts["correct"] < 1 or draw < 0.018:
                counts["correct"] += 1
                demo.events[issued + timedelta(days=2)].append(("correct", document.pk))
        if customer.kind in (Customer.Kind.AD_HOC, Customer.Kind.ANONYMOUS):
            demo.events[issued].append(("card", document.pk, Decimal(100)))
            return
        channel = demo.channel.get(customer.pk, "transfer")
        if document.kind != DocumentKind.INVOICE:
            channel = "card"  # receipts are paid with the card kept in the app
        elif (mandate_from := demo.mandate_from.get(customer.pk)) and issued >= mandate_from:
            return  # collected by the direct-debit run
        kind = demo.payer.get(customer.pk, "prompt")
        if kind == "never" and issued < demo.today - timedelta(days=75):
            kind = "prompt"  # paid for months, then stopped: the recent ones are overdue
        if kind == "partial" and customer.pk in demo.partial and rng.random() < 0.6:
            kind = "prompt"  # the first one in part, later ones now and then
        if kind == "partial":
            demo.partial.add(customer.pk)
        if kind == "never":
            return
        if kind == "late":
            when = document.due_date + timedelta(days=rng.randint(4, 30))
        else:
            when = issued + timedelta(days=rng.randint(1, 11) if channel != "card" else 0)
        share = Decimal(rng.choice([40, 50, 60, 70])) if kind == "partial" else Decimal(100)
        if when <= demo.today:
            demo.events[when].append((channel, document.pk, share))

    def _act(self, demo: Demo, day: date, action: str, document_id: int, share=None) -> None:
        document = Document.objects.select_related("customer").get(pk=document_id)
        if action == "credit":
            issue_credit_note(
                document=document,
                reason="Charger fault: a session was aborted after a few minutes and is not "
                "billed; this invoice is cancelled.",
                issue_date=day,
            )
            return
        if action == "reissue":
            issue_credit_note(
                document=document,
                reason="Replaced at the customer's request: the invoice is issued again with "
                "their new billing address.",
                reissue=True,
                issue_date=day,
            )
            return
        if action == "correct":
            country = document.recipient_country if document.recipient_country in STREETS else "DE"
            name, number = demo.rng.choice(STREETS[country]), demo.rng.randint(2, 90)
            street = f"{number} {name}" if country == "FR" else f"{name} {number}"
            correct_recipient_details(
                document=document,
                changes={"recipient_street": street},
                reason="The customer had moved before the invoice was sent; the address is "
                "corrected at their request.",
            )
            return
        if document.outstanding <= 0 or RECORD_PAYMENT not in allowed_actions(document):
            return
        amount = round_money(document.outstanding * share / 100, document.currency)
        if action == "manual":
            record_payment(
                document=document,
                amount=amount,
                paid_on=day,
                method=demo.rng.choice([PaymentMethod.CASH, PaymentMethod.BANK_TRANSFER]),
                reference="Paid at the VoltWay service desk",
            )
        elif action == "card":
            moment = datetime.combine(day, time(12), ZoneInfo(demo.operator.time_zone))
            ledger.record_transaction(
                ledger.TransactionFacts(
                    operator=demo.operator,
                    provider="demo",
                    provider_reference=f"demo-{document.pk}",
                    kind=TransactionKind.CAPTURE,
                    status="succeeded",
                    amount=amount,
                    currency=document.currency,
                    method=PaymentMethod.CARD,
                    occurred_at=moment,
                    value_date=day,
                    intended_document=document,
                )
            )
        elif document.currency == "EUR":  # by transfer, on this week's bank statement
            customer = document.customer
            reference = document.display_number
            demo.counts["transfers"] += 1
            if demo.counts["transfers"] % 60 == 1:
                reference = f"Ladekarte {customer.display_name}"  # no number: staff review it
            demo.statement.append(
                Credit(
                    amount=amount,
                    remittance=f"{reference} {customer.display_name}",
                    payer_name=customer.company_name or customer.name,
                )
            )

    def _book_statement(self, demo: Demo, day: date) -> None:
        settings = demo.operator.invoicing_settings
        number = demo.counts["statements"] = demo.counts["statements"] + 1
        content = ContentFile(b"")
        write_camt053(
            content,
            demo.statement,
            account_iban=settings.iban,
            statement_id=f"VWY-{day:%Y%m%d}-{number:03d}",
            booked_on=day,
        )
        statement = receive_statement(
            operator=demo.operator, name=f"camt053-{day:%Y-%m-%d}.xml", data=content.file.getvalue()
        )
        import_statement(statement)
        demo.statement = []

    # --- direct debit, the online checkout ---------------------------------------------------

    def _mandate(self, demo: Demo, customer: Customer, day: date) -> None:
        bank = demo.rng.choice(BANK_CODES)
        iban = IBAN.generate(
            "DE", bank_code=bank, account_code=f"{demo.rng.randint(10**8, 10**10 - 1)}"
        )
        give_mandate(
            customer=customer,
            iban=str(iban),
            account_holder=customer.company_name or customer.name,
            signed_on=day,
            source=MandateSource.PORTAL,
        )

    def _collection(self, demo: Demo):
        """One direct-debit run for what the mandates' customers owe, on the last due date."""
        due = (
            Document.objects.filter(
                customer_id__in=list(demo.mandate_from),
                status__in=(DocumentStatus.ISSUED, DocumentStatus.OVERDUE),
            )
            .order_by("-due_date")
            .values_list("due_date", flat=True)
            .first()
        )
        return collect(
            operator=demo.operator,
            collection_date=max(due or demo.today, demo.today + timedelta(days=2)),
        )

    def _checkout(self, demo: Demo) -> None:
        """A driver paid their latest invoice through the demo checkout page, as the portal's
        “Pay” button sends it."""
        open_invoice = (
            Document.objects.filter(
                operator=demo.operator,
                kind=DocumentKind.INVOICE,
                status=DocumentStatus.ISSUED,
                amount_paid=0,
                customer__kind=Customer.Kind.INDIVIDUAL,
            )
            .order_by("-issue_date", "-pk")
            .first()
        )
        if open_invoice is None:
            return
        demo_provider = provider("demo")
        checkout = demo_provider.start_checkout(document=open_invoice, return_url="/")
        signed = unsign(checkout.url.rstrip("/").rsplit("/", 1)[-1])
        body = urlencode({"notification": notification(signed, "paid")}).encode()
        demo_provider.handle_notification(body=body, headers={})

    def _terminals(self, operator, evses, tariff_id, rng, meters) -> tuple[int, int]:
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
        self._sign(payloads, meters)
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
            time_zone="Europe/Berlin",
        )
        InvoicingSettings.objects.create(
            operator=operator,
            always_issue=True,
            # Business customers get an e-invoice: Factur-X unless they ask for XRechnung.
            einvoice_format=EInvoiceFormat.FACTURX,
            iban="DE89370400440532013000",
            bic="COBADEFFXXX",
            # The Bundesbank's example creditor identifier: direct debits are only simulated.
            sepa_creditor_identifier="DE98ZZZ09999999999",
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

    def _exchange_rates(self, first: date, today: date) -> None:
        ExchangeRate.objects.bulk_create(
            ExchangeRate(
                currency=currency,
                rate_date=first + timedelta(days=days),
                rate=Decimal(rate),
                source="ECB reference rate (demo)",
            )
            for currency, rate in DEMO_RATES.items()
            for days in range(-7, (today - first).days + 1)
            if (first + timedelta(days=days)).weekday() < 5
        )

    def _locations(self, operator: Operator) -> list[list[EVSE]]:
        """Each location's charge points: AC points on an energy (or time) tariff, DC on the
        day/night tariff; Zürich's EUR points state their VAT in CHF."""
        evses = []
        for index, (name, street, postal, city, country, tz, prefix, ac, dc) in enumerate(
            LOCATIONS
        ):
            location = Location.objects.create(
                operator=operator,
                name=name,
                street=street,
                postal_code=postal,
                city=city,
                country=country,
                time_zone=tz,
            )
            points = []
            for number in range(1, ac + dc + 1):
                is_dc = number > ac
                evse = EVSE.objects.create(
                    location=location,
                    evse_id=f"{prefix}*E{index + 1:02d}{number:03d}",
                    max_power_kw=Decimal("150.00") if is_dc else Decimal("22.00"),
                )
                evse.is_dc = is_dc
                evse.tariff = (
                    "DC-DAY-NIGHT" if is_dc else ("AC-TIME" if index in (6, 9) else "AC-STANDARD")
                )
                points.append(evse)
            evses.append(points)
        return evses

    def _customers(self, demo: Demo, count: int, first: date) -> dict[str, Card]:
        """The people and fleets with a contract, each card with its driving habits: the named
        drivers first (they get portal accounts), then a few hundred more."""
        operator, rng = demo.operator, demo.rng
        get_anonymous_customer(operator=operator)
        cards: dict[str, Card] = {}

        def card_for(customer, home, *, kwh, dc, since=first, until=None, trips=True):
            uid = f"04{'%012X' % (0xDE0000000000 + len(cards) * 7919)}"
            ChargingToken.objects.create(customer=customer, kind=ChargingToken.Kind.RFID, uid=uid)
            cards[uid] = Card(
                uid=uid,
                home=home,
                monthly_kwh=kwh,
                dc_share=dc,
                active_from=since,
                active_until=until,
                trips=trips,
            )
            return cards[uid]

        named = [
            # name, e-mail, language, home index, street, postal code, per session, invoice
            ("Anna Schmidt", "anna@example.org", "de", 0, "Kastanienallee 31", "10435", True, True),
            ("Luc Martin", "luc@example.org", "fr", 5, "14 rue Oberkampf", "75011", False, False),
            ("Eleni Papadopoulou", "eleni@example.org", "el", 7, "Skoufa 18", "10673", False, True),
            ("Omar Haddad", "omar@example.org", "ar", 0, "Wiener Straße 62", "10999", True, False),
            ("Jane Doe", "jane@example.org", "en", 1, "Fraunhoferstraße 9", "80469", False, True),
            (
                "Stefan Krüger",
                "stefan@example.org",
                "de",
                2,
                "Eppendorfer Weg 120",
                "20259",
                False,
                True,
            ),
        ]
        for number, (
            name,
            email,
            language,
            home,
            street,
            postal,
            per_session,
            invoice,
        ) in enumerate(named):
            city, country, _postals, near = HOMES[home]
            customer = Customer.objects.create(
                operator=operator,
                kind=Customer.Kind.INDIVIDUAL,
                name=name,
                email=email,
                # Their payment confirmations and reminders also go out as texts (var/sms).
                mobile_phone=DEMO_MOBILES[number],
                language=language,
                street=street,
                postal_code=postal,
                city=city,
                country=country,
                requires_invoice=invoice,
                billing_mode=(
                    Customer.BillingMode.PER_SESSION
                    if per_session
                    else Customer.BillingMode.OPERATOR_DEFAULT
                ),
            )
            # Stefan stopped paying his plan and was suspended: he has not charged since.
            until = first + timedelta(days=45) if email.startswith("stefan") else None
            card_for(customer, near, kwh=rng.randint(180, 320), dc=0.3, until=until)
            demo.channel[customer.pk] = (
                "card" if per_session else "manual" if email.startswith("eleni") else "transfer"
            )
            demo.payer[customer.pk] = {"luc": "late", "eleni": "partial", "stefan": "never"}.get(
                email.split("@")[0], "prompt"
            )
        fleets = [
            # The German fleet gets an XRechnung (a Leitweg-ID); the French one, charging in
            # Germany or Greece, a reverse-charge invoice as Factur-X.
            (
                "Logistik Nord GmbH",
                "Fleet desk",
                "Hafenstraße 10",
                "20457",
                "Hamburg",
                "DE",
                "DE811907980",
                "de",
                EInvoiceFormat.XRECHNUNG_CII,
                "04011000-12345-34",
                [5],
                3,
            ),
            (
                "Transports Rapides SARL",
                "Service flotte",
                "12 rue de Rivoli",
                "75004",
                "Paris",
                "FR",
                "FR40303265045",
                "fr",
                EInvoiceFormat.FACTURX,
                "",
                [2, 0],  # its vans run between Paris and Berlin
                3,
            ),
        ]
        for index, (company, contact, home, cards_count, fmt, reference) in enumerate(FLEETS):
            city, country, postals, near = HOMES[home]
            fleets.append(
                (
                    company,
                    contact,
                    FLEET_STREETS[index],
                    rng.choice(postals),
                    city,
                    country,
                    german_vat_id(rng) if country == "DE" else french_vat_id(rng),
                    LANGUAGE[country],
                    fmt,
                    reference,
                    near,
                    cards_count,
                )
            )
        for (
            company,
            contact,
            street,
            postal,
            city,
            country,
            vat_id,
            language,
            fmt,
            reference,
            near,
            cards_count,
        ) in fleets:
            legal_forms = {"gmbh", "kg", "sarl", "sas", "eg", "partner"}
            words = [ascii_name(w) for w in company.replace("&", " ").split()]
            slug = "-".join(w for w in words if w and w not in legal_forms)
            mailbox = "flotte" if country == "FR" else "fuhrpark"
            customer = Customer.objects.create(
                operator=operator,
                kind=Customer.Kind.COMPANY,
                name=contact,
                company_name=company,
                vat_id=vat_id,
                street=street,
                postal_code=postal,
                city=city,
                country=country,
                email=f"{mailbox}@{slug}.example",
                language=language,
                requires_invoice=True,
                billing_mode=Customer.BillingMode.MONTHLY,
                einvoice_format=fmt,
                buyer_reference=reference,
            )
            for _card in range(cards_count):
                card_for(customer, near, kwh=rng.randint(200, 450), dc=0.5)
            demo.channel[customer.pk] = "transfer"
            demo.payer[customer.pk] = "late" if rng.random() < 0.15 else "prompt"
        # Everyone else: individuals near one of the locations, some who joined lately.
        used = set()
        registered = len(named) + len(fleets)
        while registered < count:
            registered += 1
            home = rng.choices(range(len(HOMES)), weights=HOME_WEIGHTS)[0]
            city, country, postals, near = HOMES[home]
            origin = "AR" if country == "DE" and rng.random() < 0.08 else country
            first_name, last_name = rng.choice(FIRST_NAMES[origin]), rng.choice(LAST_NAMES[origin])
            local = f"{ascii_name(first_name)}.{ascii_name(last_name)}"
            email = (
                f"{local}@example.org" if local not in used else f"{local}{len(used)}@example.org"
            )
            used.add(local)
            number = rng.randint(1, 140)
            street_name = rng.choice(STREETS[country])
            street = f"{number} {street_name}" if country == "FR" else f"{street_name} {number}"
            joined = (
                first + timedelta(days=rng.randint(0, (demo.today - first).days))
                if rng.random() < 0.3
                else first
            )
            per_session = rng.random() < 0.025
            customer = Customer.objects.create(
                operator=operator,
                kind=Customer.Kind.INDIVIDUAL,
                name=f"{first_name} {last_name}",
                email=email,
                language=LANGUAGE[origin] if rng.random() < 0.9 else "en",
                street=street,
                postal_code=rng.choice(postals),
                city=city,
                country=country,
                requires_invoice=rng.random() < 0.7,
                billing_mode=(
                    Customer.BillingMode.PER_SESSION
                    if per_session
                    else Customer.BillingMode.OPERATOR_DEFAULT
                ),
            )
            card_for(
                customer,
                near,
                kwh=rng.randint(100, 400),
                dc=rng.choice([0, 0.1, 0.3, 0.6]),
                since=joined,
            )
            demo.payer[customer.pk] = (
                "prompt"
                if per_session  # their card is charged after each session
                else rng.choices([p for p, _ in PAYERS], weights=[w for _, w in PAYERS])[0]
            )
            draw = rng.random()
            if per_session:
                demo.channel[customer.pk] = "card"
            elif draw < 0.12 and demo.payer[customer.pk] == "prompt" and joined == first:
                # Switched to direct debit lately: later invoices are collected.
                signed = demo.today - timedelta(days=rng.randint(20, 40))
                demo.mandates[signed].append(customer)
                demo.mandate_from[customer.pk] = signed
            else:
                demo.channel[customer.pk] = "manual" if draw > 0.92 else "transfer"
        return cards

    def _subscriptions(self, demo: Demo, first: date) -> None:
        """Jane and a few others on plans billed on their own cycle; Stefan's plan was
        suspended after his renewal stayed unpaid."""
        operator = demo.operator
        flex = Plan.objects.create(
            operator=operator,
            name="VoltWay Flex",
            fee=Decimal("9.90"),
            energy_price=Decimal("0.39"),
            included_kwh=Decimal("10"),
        )
        commuter = Plan.objects.create(
            operator=operator,
            name="VoltWay Pendler",
            fee=Decimal("19.90"),
            energy_price=Decimal("0.35"),
            included_kwh=Decimal("50"),
        )
        subscribers = list(
            Customer.objects.filter(
                operator=operator, kind=Customer.Kind.INDIVIDUAL, billing_mode=""
            )
            .exclude(pk__in=list(demo.mandate_from))
            .order_by("pk")
        )
        chosen = [c for c in subscribers if c.email in ("jane@example.org", "stefan@example.org")]
        chosen += [c for c in subscribers[20::25] if demo.payer[c.pk] == "prompt"][:8]
        for index, customer in enumerate(chosen):
            subscribe(
                customer=customer, plan=commuter if index % 3 == 2 else flex, start_date=first
            )
