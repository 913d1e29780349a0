"""The invoicing tests' fixtures, for the reliability modules run by pytest (the API's come from
tests/conftest.py)."""

from tests.invoicing.conftest import (  # noqa: F401 - fixtures
    charge,
    evse,
    tariff,
)
