"""Document, billing-run, payment and DATEV endpoints, mounted under /api/v1/."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from invoicing.api.collections import CollectionRunViewSet
from invoicing.api.payments import CustomerCreditViewSet, PaymentTransactionViewSet
from invoicing.api.statements import BankStatementViewSet
from invoicing.api.terminals import TerminalTransactionViewSet, TerminalViewSet, terminal_webhook
from invoicing.api.views import BillingRunViewSet, DatevExportViewSet, InvoiceViewSet

router = SimpleRouter()
router.register("invoices", InvoiceViewSet, basename="invoice")
router.register("billing-runs", BillingRunViewSet, basename="billing-run")
router.register("payments", PaymentTransactionViewSet, basename="payment")
router.register("collections", CollectionRunViewSet, basename="collection")
router.register("customers", CustomerCreditViewSet, basename="customer-credit")
router.register("accounting/datev", DatevExportViewSet, basename="datev-export")
router.register("bank-statements", BankStatementViewSet, basename="bank-statement")

router.register("terminals", TerminalViewSet, basename="terminal")
router.register(
    "terminal-transactions", TerminalTransactionViewSet, basename="terminal-transaction"
)

urlpatterns = [
    path("terminal-webhooks/<str:vendor>/", terminal_webhook, name="terminal-webhook"),
    *router.urls,
]
