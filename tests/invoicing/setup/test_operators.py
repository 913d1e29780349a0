"""Setting up an operator gives it settings and a numbering series for every document kind."""

from __future__ import annotations

import pytest

from invoicing.models import DocumentKind, InvoicingSettings, NumberingSeries
from invoicing.setup.operators import set_up_operator

pytestmark = pytest.mark.django_db


def test_a_new_operator_gets_default_settings_and_every_series(operator):
    settings = set_up_operator(operator=operator)

    assert settings == InvoicingSettings.objects.get(operator=operator)
    assert settings.document_type == InvoicingSettings._meta.get_field("document_type").default
    prefixes = dict(NumberingSeries.objects.filter(operator=operator).values_list("kind", "prefix"))
    assert set(prefixes) == set(DocumentKind.values)
    assert prefixes["invoice"] == "INV-"


def test_setting_up_again_keeps_what_the_operator_chose(operator):
    settings = set_up_operator(operator=operator)
    settings.payment_grace_days = 30
    settings.save()
    NumberingSeries.objects.filter(operator=operator, kind="invoice").update(prefix="RE-")

    set_up_operator(operator=operator)

    assert InvoicingSettings.objects.get(operator=operator).payment_grace_days == 30
    assert NumberingSeries.objects.filter(operator=operator).count() == len(DocumentKind.values)
    assert NumberingSeries.objects.get(operator=operator, kind="invoice").prefix == "RE-"
