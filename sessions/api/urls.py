"""Tariff and session endpoints, mounted under /api/v1/ by cpo_portal/urls.py."""

from rest_framework.routers import SimpleRouter

from sessions.api.views import LocationViewSet, SessionViewSet, TariffViewSet

router = SimpleRouter()
router.register("tariffs", TariffViewSet, basename="tariff")
router.register("sessions", SessionViewSet, basename="session")
router.register("locations", LocationViewSet, basename="location")

urlpatterns = router.urls
