"""Each door answers: admin login, API root and schema, portal landing, health, a real worker."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.contrib.staticfiles import finders
from django.templatetags.static import static
from django.urls import reverse
from django.utils import timezone

from customers.models import Customer
from tests.factories import CustomerFactory


@pytest.mark.django_db
def test_admin_login_page_answers(client):
    response = client.get(reverse("admin:login"))
    assert response.status_code == 200
    assert b"CPO back-office" in response.content


@pytest.mark.django_db
def test_admin_requires_login(client):
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]


@pytest.mark.django_db
def test_staff_user_sees_the_admin_index(admin_client):
    response = admin_client.get(reverse("admin:index"))
    assert response.status_code == 200
    for section in (b"Customers", b"Charging", b"Invoicing", b"Periodic tasks"):
        assert section in response.content


def test_api_root_links_schema_and_docs(client):
    response = client.get("/api/v1/")
    assert response.status_code == 200
    body = response.json()
    assert body["schema"].endswith("/api/v1/schema/")
    assert body["docs"].endswith("/api/v1/docs/")


def test_openapi_schema_is_served_as_openapi_3(client):
    response = client.get(reverse("api:schema"), HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    assert response.json()["openapi"].startswith("3.")


def test_api_docs_page_uses_bundled_assets(client):
    response = client.get(reverse("api:docs"))
    assert response.status_code == 200
    assert b"swagger-ui" in response.content
    assert b"cdn.jsdelivr.net" not in response.content


@pytest.mark.django_db
def test_portal_landing_page_names_the_operator(client, operator):
    response = client.get(reverse("portal:landing"))
    assert response.status_code == 200
    assert operator.legal_name.encode() in response.content


@pytest.mark.django_db
def test_health_is_ok_when_database_and_broker_answer(client):
    response = client.get(reverse("health"))
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}


@pytest.mark.django_db
def test_health_is_503_naming_the_broker_when_it_is_down(client, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    response = client.get(reverse("health"))
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["broker"].startswith("down:")


def test_a_real_worker_runs_a_scheduled_task_from_the_broker(celery_worker_thread):
    from customers.tasks import erase_expired_ad_hoc_emails

    driver = CustomerFactory(
        kind=Customer.Kind.AD_HOC,
        email="once@example.org",
        email_collected_at=timezone.now() - timedelta(days=31),
    )
    erase_expired_ad_hoc_emails.delay()

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        driver.refresh_from_db()
        if driver.email == "":
            break
        time.sleep(0.1)
    assert driver.email == ""


def test_the_favicon_is_served_from_the_static_files_not_a_cdn(client):
    response = client.get("/favicon.ico")

    assert response.status_code == 301
    assert response["Location"] == static("portal/favicon.svg")
    assert finders.find("portal/favicon.svg")
