"""ASGI entry point for the web process."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cpo_portal.settings")

application = get_asgi_application()
