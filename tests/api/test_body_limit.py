"""A body over DATA_UPLOAD_MAX_MEMORY_SIZE is a JSON 413 naming the limit, on every API path and under DEBUG.

Through the test client (Django's WSGI handler) and through uvicorn (the ASGI server `make run` starts).
"""

import json

import pytest
import requests
from django.db import connection

from tests.topology import Web, database_url, process_env

pytestmark = pytest.mark.django_db
LIMIT = 2_621_440  # Django's default, kept by settings.py
PATHS = ("destinations", "connections", "destinations/test")


def three_megabytes() -> str:
    config = {"url": "https://hooks.example.com/in", "method": "x" * 3_000_000}
    return json.dumps({"name": "big", "destination_type": "webhook", "config": config})


def assert_names_the_limit(status: int, content_type: str, body: dict) -> None:
    assert status == 413, body
    assert content_type.startswith("application/json")
    assert "DATA_UPLOAD_MAX_MEMORY_SIZE" in body["detail"] and f"{LIMIT:,} bytes" in body["detail"]


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize("path", PATHS)
def test_an_oversized_body_is_a_json_413(api, settings, debug, path):
    settings.DEBUG = debug
    response = api.post(api.path(path), data=three_megabytes(), content_type="application/json")
    assert_names_the_limit(response.status_code, response["Content-Type"], response.json())


def test_a_smaller_limit_is_the_one_named(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    body = json.dumps({"destination_ids": ["00000000-0000-0000-0000-000000000000"] * 400})
    response = api.post(api.path("destinations/test-jobs"), data=body, content_type="application/json")
    assert response.status_code == 413 and "10,000 bytes" in response.json()["detail"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("debug", ["false", "true"])
def test_through_uvicorn(api, debug):
    env = process_env(database=database_url(connection.settings_dict), redis_url=None, DJANGO_DEBUG=debug)
    headers = {"Authorization": f"Bearer {api.token}", "X-Workspace-ID": str(api.workspace.pk)}
    headers["Content-Type"] = "application/json"
    with Web(env) as web:
        for path in PATHS:
            response = requests.post(f"{web.url}{api.path(path)}", data=three_megabytes(), headers=headers, timeout=30)
            assert_names_the_limit(response.status_code, response.headers["Content-Type"], response.json())


def test_the_schema_documents_the_413_of_every_operation_with_a_body(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    operations = [op for path in schema["paths"].values() for op in path.values() if isinstance(op, dict)]
    with_body = [op for op in operations if "requestBody" in op]
    assert len(with_body) >= 8
    for operation in operations:
        assert ("413" in operation["responses"]) == ("requestBody" in operation), operation["operationId"]
