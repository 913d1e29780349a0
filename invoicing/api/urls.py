"""Document, billing-run, payment and DATEV endpoints, mounted under /api/v1/."""

from rest_framework.routers import SimpleRouter

from invoicing.api.collections import CollectionRunViewSet
from invoicing.api.payments import CustomerCreditViewSet, PaymentTransactionViewSet
from invoicing.api.views import BillingRunViewSet, DatevExportViewSet, InvoiceViewSet

router = SimpleRouter()
router.register("invoices", InvoiceViewSet, basename="invoice")
router.register("billing-runs", BillingRunViewSet, basename="billing-run")
router.register("payments", PaymentTransactionViewSet, basename="payment")
router.register("collections", CollectionRunViewSet, basename="collection")
router.register("customers", CustomerCreditViewSet, basename="customer-credit")
router.register("accounting/datev", DatevExportViewSet, basename="datev-export")

urlpatterns = router.urls
