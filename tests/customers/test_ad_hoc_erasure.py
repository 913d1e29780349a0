"""GDPR: ad-hoc e-mails are erased 30 days after collection, and nothing else is touched."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from customers.models import Customer
from customers.services import erase_expired_ad_hoc_emails
from tests.factories import ChargingSessionFactory, CustomerFactory


def ad_hoc(operator, email, collected_days_ago, now):
    return CustomerFactory(
        operator=operator,
        kind=Customer.Kind.AD_HOC,
        name="",
        email=email,
        email_collected_at=now - timedelta(days=collected_days_ago),
    )


def test_ad_hoc_emails_older_than_30_days_are_erased(operator):
    now = timezone.now()
    old = ad_hoc(operator, "old@example.org", 31, now)

    assert erase_expired_ad_hoc_emails(now=now) == 1

    old.refresh_from_db()
    assert old.email == ""
    assert old.kind == Customer.Kind.AD_HOC


def test_ad_hoc_emails_30_days_old_or_younger_stay(operator):
    now = timezone.now()
    young = ad_hoc(operator, "young@example.org", 29, now)
    exactly = ad_hoc(operator, "exactly@example.org", 30, now)

    assert erase_expired_ad_hoc_emails(now=now) == 0

    young.refresh_from_db()
    exactly.refresh_from_db()
    assert young.email == "young@example.org"
    assert exactly.email == "exactly@example.org"


def test_other_kinds_keep_their_emails_however_old(operator):
    now = timezone.now()
    long_ago = now - timedelta(days=400)
    individual = CustomerFactory(
        operator=operator, email="person@example.org", email_collected_at=long_ago
    )
    company = CustomerFactory(
        operator=operator,
        kind=Customer.Kind.COMPANY,
        company_name="Fleet GmbH",
        email="fleet@example.org",
        email_collected_at=long_ago,
    )

    assert erase_expired_ad_hoc_emails(now=now) == 0

    individual.refresh_from_db()
    company.refresh_from_db()
    assert individual.email == "person@example.org"
    assert company.email == "fleet@example.org"


def test_erasure_keeps_the_customer_and_its_sessions(operator):
    now = timezone.now()
    customer = ad_hoc(operator, "driver@example.org", 45, now)
    session = ChargingSessionFactory(operator=operator, customer=customer)

    assert erase_expired_ad_hoc_emails(now=now) == 1

    session.refresh_from_db()
    assert session.customer_id == customer.pk
    assert Customer.objects.filter(pk=customer.pk, email="").exists()
    assert list(customer.charging_sessions.all()) == [session]


def test_erasure_returns_how_many_emails_it_erased_and_erases_each_once(operator):
    now = timezone.now()
    for n in range(3):
        ad_hoc(operator, f"gone{n}@example.org", 31 + n, now)
    ad_hoc(operator, "stays@example.org", 1, now)

    assert erase_expired_ad_hoc_emails(now=now) == 3
    assert erase_expired_ad_hoc_emails(now=now) == 0
    assert list(
        Customer.objects.filter(kind=Customer.Kind.AD_HOC)
        .exclude(email="")
        .values_list("email", flat=True)
    ) == ["stays@example.org"]


def test_erasure_defaults_to_now(operator):
    ad_hoc(operator, "old@example.org", 31, timezone.now())

    assert erase_expired_ad_hoc_emails() == 1
