"""Post-paid subscriptions over simulated months: renewals, reminders, suspension, payment."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail
from django.urls import reverse

from cpo_portal.kernel.money import round_money
from customers.models import ChargingToken, Customer, Plan, Subscription
from customers.notifications.sending import send_due_messages
from invoicing.billing.runs import run_billing
from invoicing.documents.composition import InvoicingError
from invoicing.models import BilledSession, Document
from invoicing.payments.recording import record_payment
from invoicing.subscriptions.lifecycle import (
    SUSPENSION_REASON,
    cancel_subscription,
    check_subscription_payments,
    renew_subscriptions,
    subscribe,
)
from tests.factories import ChargingTokenFactory, CompanyCustomerFactory, CustomerFactory

pytestmark = pytest.mark.django_db
BERLIN = ZoneInfo("Europe/Berlin")


def at(year: int, month: int, day: int, hour: int = 9):
    """Travel to that local time in Berlin, the operator's time zone."""
    return time_machine.travel(datetime(year, month, day, hour, tzinfo=BERLIN), tick=False)


def daily_jobs():
    """What Beat runs every night, and the outbox worker sending what it queued."""
    issued = renew_subscriptions()
    check_subscription_payments()
    send_due_messages()
    return issued


@pytest.fixture
def plan(operator):
    return Plan.objects.create(
        operator=operator,
        name="Flex",
        fee=Decimal("9.90"),
        energy_price=Decimal("0.30"),
        included_kwh=Decimal("5"),
        reminder_days=3,
        suspend_after_days=7,
    )


@pytest.fixture
def subscriber(operator, plan):
    customer = CustomerFactory(operator=operator, requires_invoice=True, language="de")
    ChargingTokenFactory(customer=customer, uid="04AABBCC")
    subscribe(customer=customer, plan=plan, start_date=date(2026, 1, 1))
    return customer


def january_sessions(charge, customer):
    return charge(customer, count=2, start=datetime(2026, 1, 10, 8, tzinfo=BERLIN))


def test_the_renewal_invoice_bills_fee_sessions_and_plan_prices(charge, subscriber):
    sessions = january_sessions(charge, subscriber)
    with at(2026, 1, 31, 23):
        assert daily_jobs() == 0  # the period is not over yet

    with at(2026, 2, 1, 2):
        assert daily_jobs() == 1

    invoice = Document.objects.get()
    assert (invoice.origin, invoice.issue_date, invoice.due_date) == (
        "subscription",
        date(2026, 2, 1),
        date(2026, 2, 15),
    )
    assert (invoice.period_start, invoice.period_end) == (date(2026, 1, 1), date(2026, 1, 31))
    lines = invoice.lines.all()
    assert [(line.service, line.quantity, line.unit_price, line.net) for line in lines] == [
        ("subscription_fee", Decimal("1.000"), Decimal("9.9"), Decimal("9.90")),
        ("energy", Decimal("20.000"), Decimal("0.4"), Decimal("8.00")),
        ("parking_time", Decimal("10.000"), Decimal("0.1"), Decimal("1.00")),
        ("connection_fee", Decimal("2.000"), Decimal("1"), Decimal("2.00")),
        ("plan_energy_price", Decimal("20.000"), Decimal("-0.1"), Decimal("-2.00")),
        ("included_energy", Decimal("5.000"), Decimal("-0.3"), Decimal("-1.50")),
    ]  # fmt: skip
    assert all(line.net == round_money(line.quantity * line.unit_price) for line in lines)
    assert invoice.total_net == Decimal("17.40")
    assert invoice.total_vat == Decimal("3.31")  # 19 % of 17.40, on the net sum
    assert sorted(invoice.billed_sessions.values_list("session_id", flat=True)) == [
        s.pk for s in sessions
    ]
    subscription = Subscription.objects.get()
    assert subscription.current_period_start == date(2026, 2, 1)

    with at(2026, 2, 1, 5):
        assert daily_jobs() == 0  # the same period is never billed twice


def test_missed_days_are_caught_up_period_by_period(charge, subscriber):
    january_sessions(charge, subscriber)
    (february,) = charge(subscriber, start=datetime(2026, 2, 20, 8, tzinfo=BERLIN))

    with at(2026, 3, 3):  # Beat was down on the 1st of February and March
        assert daily_jobs() == 2

    first, second = Document.objects.order_by("number")
    assert [(d.period_start, d.session_count) for d in (first, second)] == [
        (date(2026, 1, 1), 2),
        (date(2026, 2, 1), 1),
    ]
    assert second.billed_sessions.get().session == february
    assert second.issue_date == date(2026, 3, 3)


def test_reminders_overdue_suspension_and_reactivation_happen_on_their_days(
    charge, subscriber, client, admin_user
):
    january_sessions(charge, subscriber)
    token = ChargingToken.objects.get(customer=subscriber)
    client.force_login(admin_user)
    authorization = reverse("api:token-authorization", args=[token.uid])
    timeline = {}
    for day in range(1, 29):
        with at(2026, 2, day, 5):
            daily_jobs()
            subscription = Subscription.objects.get()
            timeline[day] = (
                subscription.status,
                Document.objects.get().status,
                len(mail.outbox),
                ChargingToken.objects.get(pk=token.pk).is_blocked,
            )

    assert timeline[11] == ("active", "issued", 0, False)
    assert timeline[12] == ("active", "issued", 1, False)  # reminder 3 days before the 15th
    assert timeline[15] == ("active", "issued", 1, False)  # due today, not overdue yet
    assert timeline[16] == ("past_due", "overdue", 2, False)  # overdue notice, once
    assert timeline[22] == ("past_due", "overdue", 2, False)
    # More than 7 days overdue: suspended, and told so once.
    assert timeline[23] == ("suspended", "overdue", 3, True)
    assert timeline[28] == ("suspended", "overdue", 3, True)
    reminder, notice, suspension = mail.outbox
    invoice = Document.objects.get()
    assert reminder.to == [subscriber.email]
    assert invoice.display_number in reminder.subject
    # In the customer's language (German), as the invoice itself.
    assert reminder.subject.startswith("Erinnerung: Rechnung")
    assert "überfällig" in notice.subject
    assert "innerhalb von 7 Tagen" in notice.body
    assert "Tagen" in notice.alternatives[0][0]  # the HTML part too
    assert suspension.subject == f"Laden gesperrt: Rechnung {invoice.display_number} ist überfällig"
    assert "funktionieren Ihre Karten wieder" in suspension.body
    assert client.get(authorization).json() == {
        "token": "04AABBCC",
        "kind": "rfid",
        "allowed": False,
        "reason": SUSPENSION_REASON,
    }

    with at(2026, 2, 28, 10):
        record_payment(document=invoice, amount=invoice.total_gross, paid_on=date(2026, 2, 28))
        send_due_messages()

    # The driver is told the payment arrived and that charging works again, in German.
    reactivation, confirmation = mail.outbox[-2:]
    assert reactivation.subject == "Laden wieder möglich"
    assert confirmation.to == [subscriber.email]
    assert confirmation.subject.startswith("Zahlung erhalten: ")
    assert invoice.display_number in confirmation.body
    assert Subscription.objects.get().status == "active"
    assert not ChargingToken.objects.get(pk=token.pk).is_blocked
    assert client.get(authorization).json()["allowed"] is True


def test_a_token_blocked_for_another_reason_stays_blocked_after_payment(charge, subscriber):
    january_sessions(charge, subscriber)
    stolen = ChargingTokenFactory(customer=subscriber, is_blocked=True, blocked_reason="Stolen")
    with at(2026, 2, 1):
        daily_jobs()
    with at(2026, 2, 24):
        daily_jobs()
    invoice = Document.objects.get()

    record_payment(document=invoice, amount=invoice.total_gross, paid_on=date(2026, 2, 24))

    stolen.refresh_from_db()
    assert (stolen.is_blocked, stolen.blocked_reason) == (True, "Stolen")


def test_the_plan_grace_period_overrides_the_operators(charge, subscriber, plan):
    plan.grace_days = 30
    plan.save()
    with at(2026, 2, 1):
        daily_jobs()

    assert Document.objects.get().due_date == date(2026, 3, 3)


def test_a_renewal_and_the_monthly_run_in_the_same_night_bill_each_session_once(
    charge, subscriber, operator
):
    monthly = CompanyCustomerFactory(operator=operator, billing_mode="monthly")
    sessions = january_sessions(charge, subscriber) + january_sessions(charge, monthly)

    with at(2026, 2, 1, 2):
        daily_jobs()
        run_billing(operator=operator, period=date(2026, 1, 1))

    assert [BilledSession.objects.filter(session=s).count() for s in sessions] == [1, 1, 1, 1]
    assert sorted(Document.objects.values_list("customer_id", "origin")) == sorted(
        [(subscriber.pk, "subscription"), (monthly.pk, "monthly")]
    )


def test_quarterly_periods_and_cancellation_at_period_end(charge, operator):
    plan = Plan.objects.create(
        operator=operator, name="Quarter", fee=Decimal("30.00"), period=Plan.Period.QUARTERLY
    )
    customer = CustomerFactory(operator=operator, requires_invoice=True)
    subscription = subscribe(customer=customer, plan=plan, start_date=date(2026, 1, 31))

    with at(2026, 4, 29):
        assert daily_jobs() == 0
    with at(2026, 4, 30):
        assert daily_jobs() == 1  # 31 Jan + 3 months = 30 Apr (end of month)
    cancel_subscription(subscription=subscription)
    with at(2026, 8, 1):
        assert daily_jobs() == 1
    with at(2026, 12, 1):
        assert daily_jobs() == 0

    first, last = Document.objects.order_by("number")
    assert (first.period_start, first.period_end) == (date(2026, 1, 31), date(2026, 4, 29))
    assert (last.period_start, last.period_end) == (date(2026, 4, 30), date(2026, 7, 30))
    assert last.lines.get(service="subscription_fee").quantity == Decimal("3")
    subscription.refresh_from_db()
    assert (subscription.status, subscription.cancelled_on) == ("cancelled", date(2026, 7, 31))
    customer.refresh_from_db()
    assert customer.billing_mode == Customer.BillingMode.OPERATOR_DEFAULT


def test_subscribing_is_refused_with_the_reason(operator, plan, subscriber):
    plan_elsewhere = Plan.objects.create(
        operator=CustomerFactory().operator, name="Other", fee=Decimal("1")
    )
    retired = Plan.objects.create(operator=operator, name="Old", fee=Decimal("1"), is_active=False)
    fresh = CustomerFactory(operator=operator)
    cases = [
        (subscriber, plan, "already has a subscription"),
        (fresh, retired, "is retired"),
        (fresh, plan_elsewhere, "another operator"),
    ]
    for customer, chosen, message in cases:
        with pytest.raises(InvoicingError, match=message):
            subscribe(customer=customer, plan=chosen, start_date=date(2026, 1, 1))


def test_the_authorization_endpoint_answers_allowed_unknown_and_unauthenticated(
    client, admin_user, subscriber
):
    url = reverse("api:token-authorization", args=["04AABBCC"])

    assert client.get(url).status_code == 403
    client.force_login(admin_user)
    assert client.get(url).json()["allowed"] is True
    unknown = client.get(reverse("api:token-authorization", args=["nope"]))
    assert (unknown.status_code, unknown.json()) == (404, {"detail": "Unknown token."})
    assert client.get(url + "?kind=bogus").status_code == 400


def test_subscription_jobs_are_registered_with_beat():
    from django_celery_beat.models import PeriodicTask

    tasks = set(PeriodicTask.objects.values_list("task", flat=True))
    assert {
        "invoicing.renew_subscriptions",
        "invoicing.check_subscription_payments",
        "invoicing.run_monthly_billing",
        "invoicing.mark_overdue_documents",
        "customers.erase_expired_ad_hoc_emails",
    } <= tasks


def test_staff_sell_a_plan_in_the_admin(admin_client, operator, plan):
    customer = CustomerFactory(operator=operator, requires_invoice=True)

    response = admin_client.post(
        reverse("admin:customers_subscription_add"),
        {"customer": customer.pk, "plan": plan.pk, "start_date": "2026-03-01"},
    )

    assert response.status_code == 302
    subscription = Subscription.objects.get(customer=customer)
    assert subscription.current_period_start == date(2026, 3, 1)
    customer.refresh_from_db()
    assert customer.billing_mode == "subscription"
    again = admin_client.post(
        reverse("admin:customers_subscription_add"),
        {"customer": customer.pk, "plan": plan.pk, "start_date": "2026-04-01"},
    )
    assert "already has a subscription" in again.text
