"""Project wiring: settings from the environment, URLs, the Celery app, WSGI/ASGI."""

from cpo_portal.celery import app as celery_app

__all__ = ("celery_app",)
