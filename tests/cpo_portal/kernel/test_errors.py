"""The kernel's domain errors: what a refused rule tells the API (400/409) and the admin."""

from __future__ import annotations

from cpo_portal.kernel.api.framework import api_exception_handler
from cpo_portal.kernel.errors import InvalidInput, StateConflict


def test_bad_input_names_its_field_or_the_request_as_a_whole():
    assert InvalidInput("Too much.", field="amount").errors == {"amount": ["Too much."]}
    assert InvalidInput("Not a month.").errors == {"detail": ["Not a month."]}
    several = InvalidInput(errors={"name": ["Required."], "email": ["Not an address."]})
    assert str(several) == "name: Required.; email: Not an address."


def test_the_api_answers_bad_input_400_per_field_and_a_state_conflict_409():
    bad = api_exception_handler(InvalidInput("Too much.", field="amount"), {})
    conflict = api_exception_handler(StateConflict("INV-1 is already credited."), {})

    assert (bad.status_code, bad.data) == (400, {"amount": ["Too much."]})
    assert (conflict.status_code, conflict.data) == (409, {"detail": "INV-1 is already credited."})
