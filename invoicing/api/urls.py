"""Document and billing-run endpoints, mounted under /api/v1/ by cpo_portal/urls.py."""

from rest_framework.routers import SimpleRouter

from invoicing.api.views import BillingRunViewSet, InvoiceViewSet

router = SimpleRouter()
router.register("invoices", InvoiceViewSet, basename="invoice")
router.register("billing-runs", BillingRunViewSet, basename="billing-run")

urlpatterns = router.urls
