"""An operator that sends e-invoices and a company customer (a public body) that receives them."""

from __future__ import annotations

import pytest

from customers.models import EInvoiceFormat
from invoicing.models import InvoicingSettings
from tests.factories import CompanyCustomerFactory

LEITWEG_ID = "04011000-12345-34"


@pytest.fixture
def einvoicing(operator):
    operator.phone = "+49 30 1234567"
    operator.save()
    InvoicingSettings.objects.filter(operator=operator).update(
        einvoice_format=EInvoiceFormat.XRECHNUNG_CII,
        iban="DE02 1203 0000 0000 2020 51",
        bic="BYLADEM1001",
    )
    operator.refresh_from_db()
    return operator


@pytest.fixture
def public_body(einvoicing):
    return CompanyCustomerFactory(
        operator=einvoicing,
        company_name="Bezirksamt Mitte von Berlin",
        buyer_reference=LEITWEG_ID,
        email="rechnungen@ba-mitte.example",
    )
