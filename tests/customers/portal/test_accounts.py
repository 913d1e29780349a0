"""Portal accounts: who gets one, and the demo drivers' accounts for trying the portal."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import CommandError, call_command

from customers.management.commands.ensure_demo_drivers import DEMO_PASSWORD
from customers.models import Customer
from customers.services import PortalAccountError, create_portal_account, get_anonymous_customer
from tests.factories import CompanyCustomerFactory, CustomerFactory

pytestmark = pytest.mark.django_db


def test_a_portal_account_signs_in_with_the_customers_email(operator):
    customer = CustomerFactory(operator=operator, email="Mia@Example.org")

    user = create_portal_account(customer=customer, password="Charge-me-up-77")

    customer.refresh_from_db()
    assert customer.user == user
    assert not user.is_staff and user.username == "mia@example.org"
    assert authenticate(email="mia@EXAMPLE.org", password="Charge-me-up-77") == user


def test_only_individuals_and_companies_with_an_email_get_an_account(operator):
    anonymous = get_anonymous_customer(operator=operator)
    ad_hoc = CustomerFactory(operator=operator, kind=Customer.Kind.AD_HOC)
    no_email = CompanyCustomerFactory(operator=operator, email="")

    for customer, reason in [
        (anonymous, "Only individuals and companies"),
        (ad_hoc, "Only individuals and companies"),
        (no_email, "has no e-mail address"),
    ]:
        with pytest.raises(PortalAccountError, match=reason):
            create_portal_account(customer=customer)


def test_one_account_per_customer_and_per_address(operator):
    first = CustomerFactory(operator=operator, email="shared@example.org")
    twin = CustomerFactory(operator=operator, email="SHARED@example.org")
    create_portal_account(customer=first)

    with pytest.raises(PortalAccountError, match="already has a portal account"):
        create_portal_account(customer=first)
    with pytest.raises(PortalAccountError, match="exists already"):
        create_portal_account(customer=twin)


def test_email_sign_in_prefers_the_driver_when_staff_share_the_address(operator):
    customer = CustomerFactory(operator=operator, email="pat@example.org")
    get_user_model().objects.create_user(
        "pat-staff", email="pat@example.org", password="Same-secret-12", is_staff=True
    )
    driver = get_user_model().objects.create_user(
        "pat", email="pat@example.org", password="Same-secret-12"
    )
    Customer.objects.filter(pk=customer.pk).update(user=driver)

    assert authenticate(email="pat@example.org", password="Same-secret-12") == driver


def test_the_demo_drivers_get_accounts_once(operator):
    drivers = [
        CustomerFactory(operator=operator, email="anna@example.org"),
        CompanyCustomerFactory(operator=operator, email="fleet@example.org"),
    ]
    get_anonymous_customer(operator=operator)
    out = StringIO()

    call_command("ensure_demo_drivers", stdout=out)
    call_command("ensure_demo_drivers", stdout=out)

    assert "(2 accounts created)" in out.getvalue()
    assert "(0 accounts created)" in out.getvalue()
    assert f"Password: {DEMO_PASSWORD}" in out.getvalue()
    for driver in drivers:
        driver.refresh_from_db()
        assert driver.user.check_password(DEMO_PASSWORD)
    assert get_user_model().objects.count() == 2


def test_the_demo_password_is_refused_outside_development(operator, settings):
    settings.DEVELOPMENT = False
    CustomerFactory(operator=operator)

    with pytest.raises(CommandError, match="--password"):
        call_command("ensure_demo_drivers", stdout=StringIO())
    call_command("ensure_demo_drivers", "--password", "A-real-Secret-2026", stdout=StringIO())

    assert Customer.objects.get(kind=Customer.Kind.INDIVIDUAL).user.check_password(
        "A-real-Secret-2026"
    )


def test_only_the_first_demo_drivers_get_accounts(operator):
    drivers = [CustomerFactory(operator=operator) for _ in range(4)]
    out = StringIO()

    call_command("ensure_demo_drivers", "--limit", "3", stdout=out)

    assert "(3 accounts created)" in out.getvalue()
    assert "and 1 more drivers without a portal account" in out.getvalue()
    for driver in drivers:
        driver.refresh_from_db()
    assert [driver.user_id is not None for driver in drivers] == [True, True, True, False]
