"""The authorization matrix: every integrator endpoint, and the callers who must not get in.

`ENDPOINTS` lists each operation once, with a body that would succeed for the owner, so a
refusal can only come from who is asking. A test checks that the list covers the schema.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.utils import timezone

from cpo_portal.kernel.periods import previous_period, today_for
from customers.models import ChargingToken, Customer, EInvoiceFormat
from invoicing.einvoices.issuing import render
from invoicing.einvoices.terms import build_terms
from invoicing.models import (
    ApiKey,
    BillingRun,
    DatevSettings,
    Document,
    EInvoice,
    InvoicingSettings,
    Payment,
)
from invoicing.output import pdf
from invoicing.payments import ledger
from invoicing.payments.collections import collect
from invoicing.payments.mandates import give_mandate
from invoicing.payments.models import BankStatement, CollectionRun, PaymentTransaction
from invoicing.payments.statements import import_statement, receive_statement
from invoicing.terminals import ingest
from invoicing.terminals.models import Terminal, TerminalTransaction
from sessions.models import ChargingSession, Location, Tariff
from sessions.services import import_tariff
from tests.factories import ChargingTokenFactory, CustomerFactory
from tests.invoicing.helpers import helper_evse, helper_tariff, issue_invoice_for
from tests.invoicing.payments.camt import Booking, camt

SECRET_EMAIL = "secret-ada@operator-a.example"
SECRET_UID = "04SECRETUID"
SECRET_PRICE = "0.987654"
SECRET_SOURCE_ID = "A-SESSION-SECRET"


@dataclass
class World:
    """Operator A's objects that nobody but A's own valid keys may see or touch."""

    customer: Customer
    token: ChargingToken
    tariff: Tariff
    session: ChargingSession
    invoice: Document
    pro_forma: Document
    run: BillingRun
    period: str
    evse_id: str
    payment: PaymentTransaction
    statement: BankStatement
    collection: CollectionRun
    collection_date: str
    terminal: str = "A-TERMINAL"
    terminal_transaction: str = "A-AUTH-1"
    location: int = 0
    secrets: tuple[str, ...] = field(default=(SECRET_EMAIL, SECRET_UID, SECRET_PRICE))

    def ids(self) -> dict[str, Any]:
        return {
            "customer": self.customer.pk,
            "token": self.token.pk,
            "tariff": self.tariff.ocpi_id,
            "session": self.session.pk,
            "invoice": self.invoice.pk,
            "pro_forma": self.pro_forma.pk,
            "run": self.run.pk,
            "statement": self.statement.pk,
            "uid": SECRET_UID,
            "period": self.period,
            "payment": self.payment.pk,
            "terminal": self.terminal,
            "terminal_transaction": self.terminal_transaction,
            "location": self.location,
            "collection": self.collection.pk,
        }

    def snapshot(self) -> tuple:
        """Everything a refused write could have changed."""
        customer = Customer.objects.get(pk=self.customer.pk)
        token = ChargingToken.objects.get(pk=self.token.pk)
        return (
            Customer.objects.filter(operator=self.customer.operator).count(),
            (customer.name, customer.email, customer.updated_at),
            (token.uid, token.is_blocked, token.customer_id),
            Tariff.objects.get(pk=self.tariff.pk).ocpi_json,
            ChargingSession.objects.filter(operator=self.customer.operator).count(),
            list(
                Document.objects.filter(operator=self.customer.operator)
                .order_by("pk")
                .values_list("pk", "status", "amount_paid")
            ),
            Payment.objects.filter(document__operator=self.customer.operator).count(),
            PaymentTransaction.objects.filter(operator=self.customer.operator).count(),
            BankStatement.objects.filter(operator=self.customer.operator).count(),
            CollectionRun.objects.filter(operator=self.customer.operator).count(),
            list(
                BillingRun.objects.filter(operator=self.customer.operator)
                .order_by("pk")
                .values_list("pk", "attempts")
            ),
            list(
                TerminalTransaction.objects.filter(terminal__operator=self.customer.operator)
                .order_by("pk")
                .values_list("pk", "match_state")
            ),
            list(Terminal.objects.filter(operator=self.customer.operator).values_list("vendor")),
            Location.objects.filter(operator=self.customer.operator).count(),
        )


def build_world(operator) -> World:
    customer = CustomerFactory(
        operator=operator, email=SECRET_EMAIL, requires_invoice=True, billing_mode="per_session"
    )
    token = ChargingTokenFactory(customer=customer, uid=SECRET_UID)
    tariff = import_tariff(
        operator=operator,
        data=(
            '{"id":"A-TARIFF","currency":"EUR","elements":[{"price_components":'
            f'[{{"type":"ENERGY","price":{SECRET_PRICE},"step_size":1}}]}}]}}'
        ),
    )
    helper_tariff(operator)
    invoice = issue_invoice_for(customer, source_id=SECRET_SOURCE_ID)
    pdf.store_document_pdf(document_id=invoice.pk)
    # A pro forma to withdraw: the operator issues pro forma documents for one session.
    settings = InvoicingSettings.objects.filter(operator=operator)
    document_type = settings.get().document_type
    settings.update(document_type="pro_forma")
    pro_forma = issue_invoice_for(customer, source_id=f"{SECRET_SOURCE_ID}-PF")
    settings.update(document_type=document_type)
    # The e-invoice download needs one: the invoice's Factur-X XML as the builder writes it
    # (a driver would get none; the matrix is about who may read it, not who gets one). Its
    # credit note then gets one too, so the operator states its IBAN.
    InvoicingSettings.objects.filter(operator=operator).update(iban="DE02120300000000202051")
    xml = render(
        build_terms(
            document=invoice,
            lines=list(invoice.lines.all()),
            fmt=EInvoiceFormat.FACTURX,
            buyer_reference="",
            iban="DE02120300000000202051",
        ),
        EInvoiceFormat.FACTURX,
    )
    EInvoice.objects.create(
        document=invoice, format=EInvoiceFormat.FACTURX, xml=xml, sha256="-", report={}
    )
    period = previous_period(today_for(operator))
    DatevSettings.objects.create(operator=operator, consultant_number=1001, client_number=1)
    run = BillingRun.objects.create(
        operator=operator, period=period, status=BillingRun.Status.COMPLETED, attempts=1
    )
    # Money the customer paid that no document used: their credit, refundable.
    payment = ledger.record_transaction(
        ledger.TransactionFacts(
            operator=operator,
            provider="manual",
            provider_reference="matrix-credit",
            kind="manual",
            status="succeeded",
            amount="10.00",
            currency="EUR",
            customer=customer,
        )
    )
    evse = helper_evse(operator)
    terminal = Terminal.objects.create(operator=operator, terminal_id="A-TERMINAL", vendor="acme")
    terminal.evses.set([evse])
    ingest.receive(
        {
            "id": "A-AUTH-1",
            "terminal_id": "A-TERMINAL",
            "kind": "authorization",
            "amount": "50.00",
            "currency": "EUR",
            "at": "2026-03-02T10:00:00+01:00",
        },
        operator=operator,
        source="api",
    )
    # A SEPA collection run with a file: the invoice collected under the customer's mandate.
    InvoicingSettings.objects.filter(operator=operator).update(
        sepa_creditor_identifier="DE98ZZZ09999999999"
    )
    give_mandate(customer=customer, iban="DE89370400440532013000", account_holder="Ada")
    collection_date = max(invoice.due_date, today_for(operator))
    collection = collect(operator=operator, collection_date=collection_date)
    return World(
        location=evse.location_id,
        customer=customer,
        token=token,
        tariff=tariff,
        session=ChargingSession.objects.get(source_id=SECRET_SOURCE_ID),
        invoice=invoice,
        pro_forma=pro_forma,
        run=run,
        period=f"{period:%Y-%m}",
        evse_id=helper_evse(operator).evse_id,
        payment=payment,
        statement=import_statement(
            receive_statement(operator=operator, name="world.xml", data=statement_file("W-1"))
        ),
        collection=collection,
        collection_date=collection_date.isoformat(),
    )


def statement_file(reference: str) -> bytes:
    """A camt.053 with one transfer nobody can match (it waits for review)."""
    return camt([Booking("1.23", "no number", payer=SECRET_EMAIL, reference=reference)])


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    body: Any = None
    # Sent as multipart/form-data: each value is a file's text, uploaded under its key.
    multipart: bool = False

    @property
    def writes(self) -> bool:
        return self.method not in ("GET", "HEAD", "OPTIONS")

    @property
    def names_an_object(self) -> bool:
        return "{" in self.path.split("?")[0]

    def url(self, world: World) -> str:
        return "/api/v1/" + self.path.format(**world.ids())

    def schema_path(self) -> str:
        """The path as the OpenAPI schema writes it."""
        names = {
            "{customer}": "{id}",
            "{token}": "{id}",
            "{session}": "{id}",
            "{invoice}": "{id}",
            "{pro_forma}": "{id}",
            "{run}": "{id}",
            "{payment}": "{id}",
            "{statement}": "{id}",
            "{collection}": "{id}",
            "{tariff}": "{tariff_id}",
            "{terminal}": "{terminal_id}",
            "{terminal_transaction}": "{transaction_id}",
            "{location}": "{id}",
        }
        path = "/api/v1/" + self.path.split("?")[0]
        for ours, theirs in names.items():
            path = path.replace(ours, theirs)
        return path


def bodies(world: World) -> dict[str, Any]:
    native = {
        "source_id": "NEW-1",
        "evse_id": world.evse_id,
        "tariff_id": "HELPER-AC",
        "start": "2026-03-02T10:00:00Z",
        "end": "2026-03-02T11:00:00Z",
        "energy_kwh": "5",
        "customer_id": world.customer.pk,
    }
    cdr = {
        "id": "NEW-CDR",
        "start_date_time": "2026-03-02T10:00:00Z",
        "end_date_time": "2026-03-02T11:00:00Z",
        "cdr_location": {"evse_id": world.evse_id},
        "cdr_token": {"uid": SECRET_UID},
        "charging_periods": [
            {
                "start_date_time": "2026-03-02T10:00:00Z",
                "tariff_id": "HELPER-AC",
                "dimensions": [{"type": "ENERGY", "volume": 5}],
            }
        ],
    }
    tariff = {
        "id": "A-TARIFF",
        "currency": "EUR",
        "elements": [{"price_components": [{"type": "ENERGY", "price": 1, "step_size": 1}]}],
    }
    return {"native": native, "cdr": cdr, "tariff": tariff}


def endpoints(world: World) -> list[Endpoint]:
    b = bodies(world)
    return [
        Endpoint("GET", "customers/"),
        Endpoint("POST", "customers/", {"kind": "individual", "name": "N", "email": "n@x.de"}),
        Endpoint("GET", "customers/{customer}/"),
        Endpoint(
            "PUT", "customers/{customer}/", {"kind": "individual", "name": "X", "email": "x@x.de"}
        ),
        Endpoint("PATCH", "customers/{customer}/", {"name": "Hacked"}),
        Endpoint("GET", "tokens/"),
        Endpoint("POST", "tokens/", {"customer": world.customer.pk, "kind": "app", "uid": "N1"}),
        Endpoint("GET", "tokens/{token}/"),
        Endpoint(
            "PUT",
            "tokens/{token}/",
            {"customer": world.customer.pk, "kind": "rfid", "uid": SECRET_UID, "is_blocked": True},
        ),
        Endpoint("PATCH", "tokens/{token}/", {"is_blocked": True}),
        Endpoint("GET", "authorizations/{uid}"),
        Endpoint("GET", "tariffs/"),
        Endpoint("POST", "tariffs/", b["tariff"]),
        Endpoint("GET", "tariffs/{tariff}/"),
        Endpoint("PUT", "tariffs/{tariff}/", b["tariff"]),
        Endpoint("GET", "sessions/"),
        Endpoint("POST", "sessions/", b["native"]),
        Endpoint("POST", "sessions/cdrs/", b["cdr"]),
        Endpoint("POST", "sessions/bulk/", {"sessions": [b["native"]]}),
        Endpoint("GET", "sessions/{session}/"),
        Endpoint("POST", "sessions/{session}/due/", {}),
        Endpoint("GET", "sessions/{session}/receipt-qr/?format=url"),
        Endpoint(
            "POST",
            "sessions/{session}/signed-data/",
            {
                "encoding_method": "OCMF",
                "signed_values": [{"nature": "Start", "signed_data": "OCMF|{}|{}"}],
            },
        ),
        Endpoint("GET", "invoices/"),
        Endpoint("GET", "invoices/{invoice}/"),
        Endpoint("GET", "invoices/{invoice}/pdf/"),
        Endpoint("GET", "invoices/{invoice}/einvoice/"),
        Endpoint("GET", "invoices/{invoice}/payments/"),
        Endpoint(
            "POST",
            "invoices/{invoice}/payments/",
            {"amount": "1.00", "paid_on": "2026-03-10", "method": "card"},
        ),
        Endpoint("POST", "invoices/{invoice}/payment-link/", {}),
        Endpoint("POST", "invoices/{invoice}/credit-note/", {"reason": "Matrix"}),
        Endpoint("POST", "invoices/{pro_forma}/withdraw/", {"reason": "Matrix"}),
        # Its session, credited without a replacement just above, is billed again.
        Endpoint("POST", "sessions/{session}/bill/", {}),
        Endpoint("GET", "billing-runs/"),
        Endpoint("POST", "billing-runs/", {"period": world.period}),
        Endpoint("GET", "billing-runs/{run}/"),
        Endpoint("GET", "billing-runs/{run}/errors/"),
        Endpoint("GET", "accounting/datev/?period={period}"),
        Endpoint("GET", "payments/"),
        Endpoint("GET", "payments/{payment}/"),
        Endpoint("POST", "payments/{payment}/refunds/", {"amount": "1.00"}),
        Endpoint("GET", "customers/{customer}/credit/"),
        Endpoint("GET", "bank-statements/"),
        Endpoint(
            "POST",
            "bank-statements/",
            {"file": statement_file("M-1").decode()},
            multipart=True,
        ),
        Endpoint("GET", "bank-statements/{statement}/"),
        Endpoint("GET", "locations/"),
        Endpoint(
            "POST",
            "locations/",
            {
                "id": "LOC-NEW",
                "address": "Hafenstr. 1",
                "city": "Kiel",
                "country": "DE",
                "time_zone": "Europe/Berlin",
                "evses": [{"uid": "1", "evse_id": "DE*NEW*E1"}],
            },
        ),
        Endpoint("GET", "locations/{location}/"),
        Endpoint("GET", "terminals/"),
        Endpoint(
            "POST",
            "terminals/",
            {"terminal_id": "A-TERMINAL", "vendor": "other", "evse_ids": [world.evse_id]},
        ),
        Endpoint("GET", "terminals/{terminal}/"),
        Endpoint("GET", "terminal-transactions/"),
        Endpoint("POST", "terminal-transactions/", terminal_capture("A-CAP-1")),
        Endpoint(
            "POST", "terminal-transactions/bulk/", {"transactions": [terminal_capture("A-CAP-2")]}
        ),
        Endpoint("GET", "terminal-transactions/{terminal_transaction}/"),
        Endpoint("POST", "collections/", {"date": world.collection_date}),
        Endpoint("GET", "collections/{collection}/"),
        Endpoint("GET", "collections/{collection}/file/"),
    ]


def terminal_capture(ident: str) -> dict:
    return {
        "id": ident,
        "terminal_id": "A-TERMINAL",
        "kind": "capture",
        "amount": "1.00",
        "currency": "EUR",
        "at": "2026-03-02T11:00:00+01:00",
        "authorization_id": "A-AUTH-1",
    }


def expired_key(integrator) -> str:
    from cpo_portal.kernel.integrations.keys import create_api_key

    new = create_api_key(
        integrator=integrator,
        name="expired",
        scope=ApiKey.Scope.WRITE,
        expires_at=timezone.now() + timedelta(minutes=1),
    )
    ApiKey.objects.filter(pk=new.api_key.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    return new.plaintext
