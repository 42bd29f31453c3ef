"""Swagger UI teaches: each type's request body has a real example, from the connector's own example config."""

import html
import re

import pytest
from jsonschema import Draft202012Validator

from connectors.runtime.registry import connector_classes

W = "/api/v1/workspaces/{workspace_id}"
TYPED_BODIES = {
    ("post", f"{W}/destinations"): "config",
    ("post", f"{W}/destinations/test"): "config",
    ("post", f"{W}/connections"): "credentials",
}


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    from django.test import Client

    with django_db_blocker.unblock():
        response = Client().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    return response.json()


def pasted_files(cls) -> set[str]:
    """Fields holding a pasted file (a key); their examples show the file's shape, not a usable key."""
    return {name for name, spec in cls.config_schema["properties"].items() if "contentMediaType" in spec}


@pytest.mark.parametrize("type_name", sorted(connector_classes()))
def test_every_connector_has_an_example_config_its_schema_accepts(type_name):
    cls = connector_classes()[type_name]
    Draft202012Validator(cls.config_schema).validate(cls.example_config)
    problems = cls.validate_config(cls.example_config)
    assert {path.removeprefix("config.") for path in problems} <= pasted_files(cls), problems


@pytest.mark.parametrize(("method", "path"), sorted(TYPED_BODIES))
def test_each_typed_body_has_an_example_per_type_with_its_destination_type(schema, method, path):
    content = schema["paths"][path][method]["requestBody"]["content"]["application/json"]
    examples = content["examples"]
    assert next(iter(examples)) == "webhook"  # the one to try first: no vendor account needed
    assert set(examples) == set(connector_classes())
    config_key = TYPED_BODIES[(method, path)]
    for type_name, example in examples.items():
        cls = connector_classes()[type_name]
        body = example["value"]
        assert body["destination_type"] == type_name and example["summary"] == cls.label
        config = body[config_key]
        assert config and set(config) <= set(cls.example_config)
        assert all(config[key] == cls.example_config[key] for key in config)
        partial = schema["components"]["schemas"][
            f"{''.join(p.capitalize() for p in type_name.split('_'))}ConfigPartial"
        ]
        Draft202012Validator(partial).validate(config)


def test_the_webhook_example_is_the_contracts(schema):
    example = schema["paths"][f"{W}/destinations"]["post"]["requestBody"]["content"]["application/json"]["examples"]
    assert example["webhook"]["value"]["config"] == {
        "url": "https://api.example.com/webhook",
        "method": "POST",
        "headers": {"X-API-Key": "your-api-key"},
    }


@pytest.mark.django_db
def test_the_api_accepts_each_example_as_it_is_shown(api, schema):
    """Try it out with the example: 201, except for a pasted key file, which must be the real one."""
    examples = schema["paths"][f"{W}/destinations"]["post"]["requestBody"]["content"]["application/json"]["examples"]
    for type_name, example in examples.items():
        response = api.post(api.path("destinations"), example["value"], format="json")
        files = pasted_files(connector_classes()[type_name])
        if files:
            assert response.status_code == 400, (type_name, response.content)
            assert set(response.json()["errors"]) == {f"config.{name}" for name in files}
        else:
            assert response.status_code == 201, (type_name, response.content)
            assert response.json()["destination_type"] == type_name


def test_the_docs_page_says_streams_appear_when_they_end_and_links_the_streaming_clients_page(schema, client):
    description = schema["info"]["description"]
    assert "only once it has ended" in description
    assert "[Streaming clients](/api/docs/streaming-clients)" in description
    page = client.get("/api/docs/streaming-clients")
    assert page.status_code == 200 and page["Content-Type"].startswith("text/plain")
    text = page.getvalue()
    assert b"Idempotency-Key" in text and b"EventSource" in text


def test_the_docs_page_loads_the_plugin_that_fills_the_workspace_header(client):
    page = client.get("/api/docs/").content.decode()
    assert '<script src="/static/destinations/api_docs.js"></script>' in page
    script = re.search(r'<script src="(/api/docs/\?script[^"]*)"', page)[1]
    init = client.get(html.unescape(script)).content.decode()
    assert "plugins: [WorkspaceHeaderFromPath]" in init
    assert "function WorkspaceHeaderFromPath" in client.get("/static/destinations/api_docs.js").getvalue().decode()
