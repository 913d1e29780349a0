"""The OpenAPI schema: valid, every field and parameter described, money as decimal strings."""

from __future__ import annotations

import json

MONEY = {"total_net", "total_vat", "total_gross", "amount", "amount_paid", "outstanding", "net"}


def load_schema(client) -> dict:
    response = client.get("/api/v1/schema/", headers={"Accept": "application/vnd.oai.openapi+json"})
    assert response.status_code == 200
    return json.loads(response.content)


def test_every_field_and_parameter_is_described(client):
    schema = load_schema(client)

    undocumented = [
        f"{name}.{field}"
        for name, component in schema["components"]["schemas"].items()
        for field, spec in component.get("properties", {}).items()
        if not spec.get("description")
    ] + [
        f"{method} {path} {parameter['name']}"
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        for parameter in operation.get("parameters", [])
        if not parameter.get("description")
    ]

    assert undocumented == []


def test_money_is_a_decimal_string_everywhere(client):
    schema = load_schema(client)

    money = {
        f"{name}.{field}": spec.get("type")
        for name, component in schema["components"]["schemas"].items()
        for field, spec in component.get("properties", {}).items()
        if field in MONEY
    }

    assert money
    assert set(money.values()) == {"string"}, money


def test_writes_document_the_idempotency_key_and_the_api_key_schemes(client):
    schema = load_schema(client)

    create = schema["paths"]["/api/v1/customers/"]["post"]
    assert "Idempotency-Key" in [p["name"] for p in create["parameters"]]
    assert {"409", "422"} <= set(create["responses"])
    assert set(schema["components"]["securitySchemes"]) >= {"ApiKeyBearer", "ApiKeyHeader"}


def test_what_a_customer_reads_back_is_in_its_schema(client, api, operator):
    """A subscription customer and the anonymous customer read values their schema lists."""
    from customers.services import get_anonymous_customer
    from tests.factories import CustomerFactory

    CustomerFactory(operator=operator, billing_mode="subscription")
    get_anonymous_customer(operator=operator)
    schema = load_schema(client)
    components = schema["components"]["schemas"]

    def allowed(prop: dict) -> set:
        refs = [prop.get("$ref")] + [p.get("$ref") for p in prop.get("allOf", [])]
        refs += [p.get("$ref") for p in prop.get("oneOf", [])]
        return {value for ref in refs if ref for value in components[ref.rsplit("/", 1)[1]]["enum"]}

    customer = components["Customer"]["properties"]
    listed = api.get("/api/v1/customers/").json()["results"]

    assert {c["billing_mode"] for c in listed} <= allowed(customer["billing_mode"])
    assert {c["kind"] for c in listed} <= allowed(customer["kind"])
    assert {"subscription", "anonymous"} <= {c["billing_mode"] for c in listed} | {
        c["kind"] for c in listed
    }
    # Requests still offer only what may be written.
    request = components["CustomerRequest"]["properties"]
    assert "subscription" not in allowed(request["billing_mode"])
    assert "anonymous" not in allowed(request["kind"])
