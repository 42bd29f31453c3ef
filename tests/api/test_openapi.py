import html
import re

import pytest
from openapi_spec_validator import validate

from connectors.runtime.registry import connector_types


@pytest.fixture
def schema(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


def test_schema_validates_and_documents_every_endpoint(schema):
    validate(schema)
    paths = schema["paths"]
    w = "/api/v1/workspaces/{workspace_id}"
    assert set(paths[f"{w}/destinations"]) >= {"get", "post"}
    assert set(paths[f"{w}/destinations/{{destination_id}}"]) >= {"get", "put", "delete"}
    assert "text/event-stream" in paths[f"{w}/destinations/test"]["post"]["responses"]["200"]["content"]
    assert (
        "text/event-stream" in paths[f"{w}/destinations/{{destination_id}}/test"]["post"]["responses"]["200"]["content"]
    )
    assert "502" in paths[f"{w}/destinations/{{destination_id}}/fields"]["get"]["responses"]
    assert "409" in paths[f"{w}/destinations/{{destination_id}}"]["delete"]["responses"]
    assert "/api/v1/destination-types" in paths


def test_create_body_is_one_of_by_destination_type(schema):
    w = "/api/v1/workspaces/{workspace_id}"
    ref = schema["paths"][f"{w}/destinations"]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    typed = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert typed["discriminator"]["propertyName"] == "destination_type"
    assert set(typed["discriminator"]["mapping"]) == set(connector_types())
    assert schema["components"]["schemas"]["WebhookConfig"]["properties"]["headers"]["writeOnly"] is True


def test_swagger_ui_is_served(client):
    assert client.get("/api/docs/").status_code == 200


def test_component_titles_are_unique_and_every_operation_is_tagged(schema):
    """Client generators name models by title: two components with one title lose one of them."""
    titles = [component.get("title", name) for name, component in schema["components"]["schemas"].items()]
    assert len(titles) == len(set(titles))
    operations = [op for item in schema["paths"].values() for op in item.values()]
    assert all(op.get("tags") and op["tags"] != ["api"] for op in operations)
    assert schema["paths"]["/api/v1/destination-types"]["get"]["tags"] == ["destination types"]
    assert {tag["name"] for tag in schema["tags"]} == {tag for op in operations for tag in op["tags"]}


def test_servers_name_the_host_that_answered(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json", HTTP_HOST="127.0.0.1:8123")
    assert response.json()["servers"] == [{"url": "http://127.0.0.1:8123", "description": "This server"}]


def test_descriptions_are_the_operations_own(schema):
    text = str(schema["paths"])
    assert "Resolves `self.workspace`" not in text


def test_listing_parameters_are_documented(schema):
    w = "/api/v1/workspaces/{workspace_id}"
    names = {p["name"] for p in schema["paths"][f"{w}/destinations"]["get"]["parameters"]}
    assert names >= {"destination_type", "status", "connection_id", "name", "limit", "cursor"}
    create = {p["name"] for p in schema["paths"][f"{w}/destinations"]["post"]["parameters"]}
    assert "Idempotency-Key" in create and "422" in schema["paths"][f"{w}/destinations"]["post"]["responses"]


def test_swagger_ui_loads_nothing_from_outside_and_nothing_inline(client):
    page = client.get("/api/docs/").content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    assert "cdn" not in page.lower() and "https://" not in page
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page, re.S)
    assert scripts and all('src="' in attrs and not body.strip() for attrs, body in scripts)  # CSP: script-src 'self'
    init = re.search(r'<script src="(/api/docs/\?script[^"]*)"', page)
    assert init, page
    response = client.get(html.unescape(init[1]))
    assert response.status_code == 200 and "SwaggerUIBundle" in response.content.decode()
