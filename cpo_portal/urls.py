"""The four doors: admin (staff), API (integrators), portal (drivers), and the health probe."""

from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.permissions import AllowAny

from cpo_portal.api import api_not_found, api_root
from cpo_portal.health import health
from cpo_portal.metrics import metrics
from cpo_portal.short_links import follow_short_link
from customers.api.views import token_authorization

admin.site.site_header = "CPO back-office"
admin.site.site_title = "CPO back-office"
admin.site.index_title = "Invoicing, customers and charging sessions"

api_v1 = [
    path("", api_root, name="root"),
    path("schema/", SpectacularAPIView.as_view(permission_classes=[AllowAny]), name="schema"),
    path(
        "docs/",
        SpectacularSwaggerView.as_view(url_name="api:schema", permission_classes=[AllowAny]),
        name="docs",
    ),
    path("authorizations/<str:uid>", token_authorization, name="token-authorization"),
    # The integrator API (docs/api.md): each app's api/ package.
    path("", include("customers.api.urls")),
    path("", include("sessions.api.urls")),
    path("", include("invoicing.api.urls")),
    re_path(r"^(?P<path>.*)$", api_not_found, name="not-found"),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include((api_v1, "api"))),
    path("health/", health, name="health"),
    path("metrics/", metrics, name="metrics"),
    path("s/<str:token>/", follow_short_link, name="short-link"),
    # The portal's language switch: Django's set_language view (POST, CSRF-protected).
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("customers.urls")),
]
