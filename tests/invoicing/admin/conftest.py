"""Fixtures of the invoicing admin tests: a per-session customer and an issued invoice."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

from tests.factories import CustomerFactory
from tests.invoicing.helpers import issue_invoice_for


@pytest.fixture
def customer(operator):
    return CustomerFactory(operator=operator, requires_invoice=True, billing_mode="per_session")


@pytest.fixture
def invoice(customer):
    return issue_invoice_for(customer)


@pytest.fixture
def viewer_client(client, django_user_model):
    """A staff member who may look at documents but correct nothing."""
    user = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label="invoicing", codename__in=["view_document", "view_billingrun"]
        )
    )
    client.force_login(user)
    return client
