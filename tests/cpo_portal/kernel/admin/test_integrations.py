"""Back-office: integrators with webhook endpoints, API keys shown once, deliveries re-sent."""

from __future__ import annotations

import re

import cpo_portal.kernel.admin.integrations  # noqa: F401  (registered by invoicing/admin/__init__.py)
from cpo_portal.kernel.integrations.keys import authenticate_key
from invoicing.models import ApiKey, Integrator, WebhookEndpoint
from tests.cpo_portal.kernel.api.support import make_key


def test_staff_register_an_integrator_with_a_webhook_endpoint(admin_client, operator):
    response = admin_client.post(
        "/admin/invoicing/integrator/add/",
        {
            "operator": operator.pk,
            "name": "ERP",
            "session_source": "erp",
            "is_active": "on",
            "webhook_endpoints-TOTAL_FORMS": "1",
            "webhook_endpoints-INITIAL_FORMS": "0",
            "webhook_endpoints-0-url": "https://erp.example/hooks",
            "webhook_endpoints-0-events": ["invoice.issued", "invoice.paid"],
            "webhook_endpoints-0-is_active": "on",
            "api_keys-TOTAL_FORMS": "0",
            "api_keys-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.integrator == Integrator.objects.get(name="ERP")
    assert endpoint.events == ["invoice.issued", "invoice.paid"]
    assert endpoint.secret.startswith("whsec_")


def test_a_new_key_is_shown_once_and_works(admin_client, integrator):
    response = admin_client.post(
        "/admin/invoicing/apikey/add/",
        {"integrator": integrator.pk, "name": "ERP sync", "scope": "write"},
    )

    assert response.status_code == 200
    plaintext = re.search(r'id="new-api-key">([^<]+)<', response.content.decode()).group(1)
    key = ApiKey.objects.get()
    assert authenticate_key(plaintext) == key
    assert key.created_by is not None
    change_page = admin_client.get(f"/admin/invoicing/apikey/{key.pk}/change/")
    assert plaintext not in change_page.content.decode()


def test_keys_are_revoked_from_the_list(admin_client, integrator):
    make_key(integrator)
    key = ApiKey.objects.get()

    admin_client.post(
        "/admin/invoicing/apikey/", {"action": "revoke", "_selected_action": [key.pk]}
    )

    key.refresh_from_db()
    assert key.revoked_at is not None


def test_a_failed_delivery_is_sent_again_from_the_list(
    admin_client, operator, integrator, per_session_customer
):
    from cpo_portal.kernel.integrations import webhooks
    from tests.invoicing.helpers import issue_invoice_for

    WebhookEndpoint.objects.create(integrator=integrator, url="http://127.0.0.1:9/x")
    document = issue_invoice_for(per_session_customer)
    (event,) = webhooks.emit(operator=operator, event="invoice.issued", objects=[document])
    event.deliveries.update(status="failed")

    page = admin_client.get("/admin/invoicing/webhookdelivery/")
    admin_client.post(
        "/admin/invoicing/webhookdelivery/",
        {"action": "send_again", "_selected_action": [event.deliveries.get().pk]},
    )

    assert page.status_code == 200
    assert event.deliveries.get().status == "pending"
    detail = admin_client.get(
        f"/admin/invoicing/webhookdelivery/{event.deliveries.get().pk}/change/"
    )
    assert detail.status_code == 200
