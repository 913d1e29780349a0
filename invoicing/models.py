"""Every model of the invoicing app in one screen, and the names its migrations reference.

The models live with their sub-domain (``setup``, ``documents``, ``payments``, ``billing``,
``output``, ``archive``) or, when every app shares them, in the kernel (``cpo_portal.kernel``);
they keep the app label ``invoicing``, so tables, content types and permissions are unchanged.
"""

from cpo_portal.kernel.exports.models import ExportJob, export_file_path
from cpo_portal.kernel.integrations.models import (
    ApiKey,
    IdempotencyRecord,
    Integrator,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
    WebhookEventType,
    new_webhook_secret,
)
from cpo_portal.kernel.links import ShortLink
from cpo_portal.kernel.tenancy import Operator
from invoicing.accounting.models import Chart, DatevSettings, DebtorAccount, RevenueAccount
from invoicing.archive.models import (
    ArchiveChain,
    ArchiveEntry,
    ArchiveKind,
    ArchiveVerification,
    LegalHold,
)
from invoicing.billing.models import BillingRun, BillingRunChunk, BillingRunError
from invoicing.dashboard.models import RevenueMonth, SessionMonth
from invoicing.documents.models import (
    RECIPIENT_FIELDS,
    BilledSession,
    CaseInsensitivePrefixIndex,
    Document,
    DocumentLine,
    DocumentOrigin,
    DocumentQuerySet,
    DocumentStatus,
    HeldSession,
    IssuedDocumentError,
    RecipientCorrection,
)
from invoicing.einvoices.models import EInvoice
from invoicing.output.models import (
    DocumentFile,
    EmailDelivery,
    ReceiptEmailRequest,
    ReceiptRetrieval,
    RenderFailure,
    document_file_path,
)
from invoicing.payments.models import Payment
from invoicing.setup.models import (
    DEFAULT_MANDATORY_FOR_COMPANIES,
    DEFAULT_MANDATORY_FOR_INDIVIDUALS,
    DEFAULT_PREFIXES,
    DocumentKind,
    InvoicingSettings,
    IssuingProfile,
    NumberingSeries,
    default_mandatory_for_companies,
    default_mandatory_for_individuals,
    vat_rate_validators,
)
from invoicing.tax.models import (
    ExchangeRate,
    TaxCategory,
    TaxRule,
    TaxTreatment,
    VatRegistration,
)
from invoicing.terminals.models import MatchState, Terminal, TerminalTransaction

__all__ = [
    "DEFAULT_MANDATORY_FOR_COMPANIES",
    "DEFAULT_MANDATORY_FOR_INDIVIDUALS",
    "DEFAULT_PREFIXES",
    "RECIPIENT_FIELDS",
    "ApiKey",
    "ArchiveChain",
    "ArchiveEntry",
    "ArchiveKind",
    "ArchiveVerification",
    "BilledSession",
    "BillingRun",
    "BillingRunChunk",
    "BillingRunError",
    "CaseInsensitivePrefixIndex",
    "Chart",
    "DatevSettings",
    "DebtorAccount",
    "Document",
    "DocumentFile",
    "DocumentKind",
    "DocumentLine",
    "DocumentOrigin",
    "DocumentQuerySet",
    "DocumentStatus",
    "EInvoice",
    "EmailDelivery",
    "ExchangeRate",
    "ExportJob",
    "HeldSession",
    "IdempotencyRecord",
    "Integrator",
    "InvoicingSettings",
    "IssuedDocumentError",
    "IssuingProfile",
    "LegalHold",
    "MatchState",
    "NumberingSeries",
    "Operator",
    "Payment",
    "ReceiptEmailRequest",
    "ReceiptRetrieval",
    "RecipientCorrection",
    "RenderFailure",
    "RevenueAccount",
    "RevenueMonth",
    "SessionMonth",
    "ShortLink",
    "TaxCategory",
    "TaxRule",
    "TaxTreatment",
    "Terminal",
    "TerminalTransaction",
    "VatRegistration",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEvent",
    "WebhookEventType",
    "default_mandatory_for_companies",
    "default_mandatory_for_individuals",
    "document_file_path",
    "export_file_path",
    "new_webhook_secret",
    "vat_rate_validators",
]
