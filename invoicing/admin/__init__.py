"""Back-office screens for operators, documents, payments and billing runs.

Every button calls the invoicing services; what they refuse is shown as an error message.
Each module registers the screens of one sub-domain; importing them here registers them all.
"""

from cpo_portal.kernel.admin import integrations  # noqa: F401  (integrators, API keys, webhooks)
from invoicing.admin import (  # noqa: F401
    accounting,
    archive,
    billing,
    documents,
    payments,
    setup,
    statements,
    tax,
    terminals,
)
