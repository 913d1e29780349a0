"""Customer and charging-token endpoints, mounted under /api/v1/ by cpo_portal/urls.py."""

from rest_framework.routers import SimpleRouter

from customers.api.views import ChargingTokenViewSet, CustomerViewSet

router = SimpleRouter()
router.register("customers", CustomerViewSet, basename="customer")
router.register("tokens", ChargingTokenViewSet, basename="token")

urlpatterns = router.urls
