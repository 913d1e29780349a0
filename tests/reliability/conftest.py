"""The fixtures of the API and invoicing tests, for the reliability modules run by pytest."""

from tests.api.conftest import (  # noqa: F401 - fixtures
    _fresh_throttle_counters,
    integrator,
    other_operator,
)
from tests.invoicing.conftest import (  # noqa: F401 - fixtures
    charge,
    evse,
    monthly_company,
    per_session_customer,
    tariff,
)
