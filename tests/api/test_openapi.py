import pytest
from openapi_spec_validator import validate

from connectors.registry import connector_types


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
