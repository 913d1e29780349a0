"""SEPA mandates: a valid IBAN or a field error, one active mandate per customer, revoked once,
the creditor identifier's check digits, IBANs masked."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from cpo_portal.kernel.errors import InvalidInput, StateConflict
from invoicing.payments.mandates import active_mandate, give_mandate, revoke_mandate
from invoicing.payments.models import MandateStatus, SequenceType
from invoicing.setup.models import validate_creditor_identifier


def test_a_bad_iban_is_refused_with_an_error_on_the_iban_field(monthly_company):
    with pytest.raises(InvalidInput) as refused:
        give_mandate(customer=monthly_company, iban="DE89370400440532013001", account_holder="A")
    assert list(refused.value.errors) == ["iban"]
    assert active_mandate(monthly_company) is None


def test_a_mandate_is_first_collected_with_frst_and_its_bic_is_derived(monthly_company):
    mandate = give_mandate(
        customer=monthly_company, iban="DE89 3704 0044 0532 0130 00", account_holder="Ada Lovelace"
    )
    assert mandate.iban == "DE89370400440532013000"
    assert mandate.bic == "COBADEFFXXX"
    assert mandate.sequence_type == SequenceType.FIRST
    assert mandate.masked_iban == "DE89 •••• 3000"
    assert active_mandate(monthly_company) == mandate


def test_a_new_mandate_replaces_the_active_one_and_revoking_twice_is_a_conflict(monthly_company):
    first = give_mandate(
        customer=monthly_company, iban="DE89370400440532013000", account_holder="Ada"
    )
    second = give_mandate(
        customer=monthly_company, iban="DE02120300000000202051", account_holder="Ada"
    )
    first.refresh_from_db()
    assert first.status == MandateStatus.REVOKED and first.revoked_at
    assert second.reference != first.reference
    revoke_mandate(second)
    assert active_mandate(monthly_company) is None
    with pytest.raises(StateConflict):
        revoke_mandate(second)


@pytest.mark.parametrize("creditor_id", ["DE98ZZZ09999999999", "de98 zzz 09999999999"])
def test_a_valid_creditor_identifier_is_accepted(creditor_id):
    validate_creditor_identifier(creditor_id)


@pytest.mark.parametrize("creditor_id", ["DE97ZZZ09999999999", "DE98", "12345"])
def test_a_creditor_identifier_with_wrong_check_digits_or_format_is_refused(creditor_id):
    with pytest.raises(ValidationError):
        validate_creditor_identifier(creditor_id)
