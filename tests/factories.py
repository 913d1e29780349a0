"""factory_boy factories for the domain models, shared by every test package."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import factory
from django.utils import timezone

from customers.models import ChargingToken, Customer
from invoicing.models import InvoicingSettings, Operator
from sessions.models import EVSE, ChargingSession, Location, Tariff
from sessions.services import tariff_snapshots

SIMPLE_TARIFF = {
    "country_code": "DE",
    "party_id": "CPO",
    "id": "AC-STANDARD",
    "currency": "EUR",
    "elements": [
        {"price_components": [{"type": "ENERGY", "price": 0.39, "step_size": 1}]},
        {"price_components": [{"type": "PARKING_TIME", "price": 6.00, "step_size": 60}]},
    ],
    "last_updated": "2026-01-01T00:00:00Z",
}


class OperatorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Operator
        skip_postgeneration_save = True

    name = "VoltWay"
    legal_name = "VoltWay Charging GmbH"
    street = "Invalidenstraße 1"
    postal_code = "10115"
    city = "Berlin"
    country = "DE"
    vat_id = "DE136695976"
    email = "billing@voltway.example"

    invoicing_settings = factory.RelatedFactory(
        "tests.factories.InvoicingSettingsFactory", factory_related_name="operator"
    )


class InvoicingSettingsFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = InvoicingSettings

    operator = factory.SubFactory(OperatorFactory, invoicing_settings=None)


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    operator = factory.SubFactory(OperatorFactory)
    kind = Customer.Kind.INDIVIDUAL
    name = factory.Faker("name")
    email = factory.Sequence(lambda n: f"driver{n}@example.org")
    street = "Hauptstraße 5"
    postal_code = "10115"
    city = "Berlin"
    country = "DE"
    language = "en"


class CompanyCustomerFactory(CustomerFactory):
    kind = Customer.Kind.COMPANY
    company_name = factory.Faker("company")
    vat_id = "DE136695976"
    requires_invoice = True


class ChargingTokenFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ChargingToken

    customer = factory.SubFactory(CustomerFactory)
    kind = ChargingToken.Kind.RFID
    uid = factory.Sequence(lambda n: f"04A1B2C3{n:06X}")


class LocationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Location

    operator = factory.SubFactory(OperatorFactory)
    name = factory.Sequence(lambda n: f"Charging Hub {n}")
    street = "Alexanderplatz 1"
    postal_code = "10178"
    city = "Berlin"
    country = "DE"
    time_zone = "Europe/Berlin"


class EVSEFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EVSE

    location = factory.SubFactory(LocationFactory)
    evse_id = factory.Sequence(lambda n: f"DE*VWY*E{n:06d}")
    max_power_kw = Decimal("22.00")


class TariffFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tariff

    operator = factory.SubFactory(OperatorFactory)
    ocpi_id = factory.Sequence(lambda n: f"TARIFF-{n}")
    currency = "EUR"
    ocpi_json = factory.LazyAttribute(lambda o: json.dumps({**SIMPLE_TARIFF, "id": o.ocpi_id}))


class ChargingSessionFactory(factory.django.DjangoModelFactory):
    """An unpriced completed session; pricing tests go through the ingest services instead."""

    class Meta:
        model = ChargingSession

    operator = factory.SubFactory(OperatorFactory)
    source = "cpms"
    source_id = factory.Sequence(lambda n: f"S{n:08d}")
    payload_format = ChargingSession.PayloadFormat.NATIVE
    customer = factory.SubFactory(CustomerFactory, operator=factory.SelfAttribute("..operator"))
    evse = factory.SubFactory(EVSEFactory, location__operator=factory.SelfAttribute("...operator"))
    tariff = factory.SubFactory(TariffFactory, operator=factory.SelfAttribute("..operator"))
    tariff_snapshot = factory.LazyAttribute(
        lambda o: tariff_snapshots({o.tariff.ocpi_json})[o.tariff.ocpi_json]
    )
    started_at = factory.LazyFunction(lambda: timezone.now() - timedelta(hours=3))
    ended_at = factory.LazyAttribute(lambda o: o.started_at + timedelta(hours=1))
    energy_kwh = Decimal("12.345")
    charging_seconds = 3000
    idle_seconds = 600
    currency = "EUR"
    raw_payload = "{}"
    issuing_due = True
