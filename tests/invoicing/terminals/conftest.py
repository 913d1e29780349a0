"""A site with a pay station serving two EVSEs and one priced session on the first."""

from decimal import Decimal

import pytest

from invoicing.terminals.models import Terminal
from tests.factories import ChargingSessionFactory, EVSEFactory, OperatorFactory


@pytest.fixture
def site():
    operator = OperatorFactory()
    evses = [EVSEFactory(location__operator=operator) for _ in range(2)]
    terminal = Terminal.objects.create(
        operator=operator, terminal_id="T-1", vendor="acme", time_zone="Europe/Berlin"
    )
    terminal.evses.set(evses)
    session = ChargingSessionFactory(
        operator=operator, evse=evses[0], total_gross=Decimal("18.42"), source_id="S-88"
    )
    return operator, terminal, evses, session
