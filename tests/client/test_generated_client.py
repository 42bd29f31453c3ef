"""A Python client generated from /api/schema/ by openapi-python-client calls every endpoint of a live server.

The test fails when the generator drops a model or an operation, when a generated module does not import,
or when a new operation has no call here (the set of operations called must equal the schema's).
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import make_api_client
from tests.emulators.webhook import WebhookReceiver
from tests.factories import PipelineFactory
from tests.sse import LiveServer, parse

pytestmark = pytest.mark.django_db(transaction=True)

API_KEY = "client-smoke-key"
PACKAGE = "destinations_api_client"


def _generate(schema_text: str, where: Path) -> None:
    schema = where / "schema.json"
    schema.write_text(schema_text)
    generator = Path(sys.executable).with_name("openapi-python-client")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run(
        [str(generator), "generate", "--path", str(schema), "--meta", "none", "--output-path", str(where / PACKAGE)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Warning" not in output and "Unable to" not in output, output  # nothing dropped


def test_every_endpoint_through_the_generated_client(tmp_path, settings):
    settings.OAUTH_REDIRECT_ALLOWED = ["http://127.0.0.1:9/back"]  # the server runs in this process
    api = make_api_client()
    workspace_id = api.workspace.pk
    with LiveServer() as server, WebhookReceiver(required_headers={"X-API-Key": API_KEY}) as receiver:
        schema_response = httpx.get(f"{server.url}/api/schema/", headers={"Accept": "application/vnd.oai.openapi+json"})
        assert schema_response.status_code == 200
        schema = schema_response.json()
        assert schema["servers"] == [{"url": server.url, "description": "This server"}]
        operations = {
            op["operationId"] for item in schema["paths"].values() for op in item.values() if "operationId" in op
        }
        _generate(schema_response.text, tmp_path)
        _smoke(tmp_path, server, api, workspace_id, receiver, operations)


def _smoke(tmp_path, server, api, workspace_id, receiver, operations):
    sys.path.insert(0, str(tmp_path))
    try:
        _calls(server, api, workspace_id, receiver, operations)
    finally:
        sys.path.remove(str(tmp_path))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]
        shutil.rmtree(tmp_path / PACKAGE, ignore_errors=True)


def _calls(server, api, workspace_id, receiver, operations):
    package = importlib.import_module(PACKAGE)
    models = importlib.import_module(f"{PACKAGE}.models")
    api_package = importlib.import_module(f"{PACKAGE}.api")
    modules = {
        info.name.rsplit(".", 1)[1]: importlib.import_module(info.name)  # every generated module imports
        for info in pkgutil.walk_packages(api_package.__path__, f"{PACKAGE}.api.")
        if not info.ispkg
    }
    assert set(modules) == operations
    client = package.AuthenticatedClient(base_url=server.url, token=api.token, timeout=httpx.Timeout(30.0))
    called = set()

    def call(operation: str, expected: int, **kwargs):
        called.add(operation)
        response = modules[operation].sync_detailed(client=client, x_workspace_id=str(workspace_id), **kwargs)
        assert response.status_code == expected, (operation, response.status_code, response.content[:500])
        return response

    def call_unscoped(operation: str, expected: int):
        called.add(operation)
        response = modules[operation].sync_detailed(client=client)
        assert response.status_code == expected
        return response

    types = call_unscoped("destination_types_list", 200).parsed
    assert len(types) == 16 and {t.type_ for t in types} >= {"webhook", "salesforce"}

    # shared connections: the credentials and the host they go to
    url = f"{receiver.url}/hooks/in"
    connection = call(
        "connections_create",
        201,
        workspace_id=workspace_id,
        body=models.ConnectionCreateRequestWebhook.from_dict(
            {
                "name": "Hook auth",
                "destination_type": "webhook",
                "credentials": {"url": url, "headers": {"X-API-Key": API_KEY}},
            }
        ),
        idempotency_key="smoke-connection",
    ).parsed
    assert connection.credentials.to_dict() == {"url": url, "headers": {"X-API-Key": "********"}}
    assert [c.id for c in call("connections_list", 200, workspace_id=workspace_id, name="hook").parsed] == [
        connection.id
    ]
    assert call("connections_retrieve", 200, workspace_id=workspace_id, connection_id=connection.id).parsed.name == (
        "Hook auth"
    )
    call(
        "connections_update",
        200,
        workspace_id=workspace_id,
        connection_id=connection.id,
        body=models.ConnectionUpdateRequest.from_dict({"name": "Shared hook auth"}),
    )

    # destinations
    created = call(
        "destinations_create",
        201,
        workspace_id=workspace_id,
        body=models.DestinationCreateRequestWebhook.from_dict(
            {
                "name": "Orders",
                "destination_type": "webhook",
                "config": {"method": "POST"},
                "connection_id": str(connection.id),
            }
        ),
        idempotency_key="smoke-destination",
    )
    destination = created.parsed
    assert destination.status.value == "pending" and destination.connection_id == connection.id
    listed = call(
        "destinations_list",
        200,
        workspace_id=workspace_id,
        destination_type=models.DestinationsListDestinationType("webhook"),
        status=models.DestinationsListStatus("pending"),
        limit=10,
    ).parsed
    assert [d.id for d in listed] == [destination.id]
    assert call("destinations_retrieve", 200, workspace_id=workspace_id, destination_id=destination.id).parsed.name == (
        "Orders"
    )
    call(
        "destinations_update",
        200,
        workspace_id=workspace_id,
        destination_id=destination.id,
        body=models.DestinationUpdateRequest.from_dict({"name": "Orders (EU)"}),
    )
    patched = call(
        "destinations_partial_update",
        200,
        workspace_id=workspace_id,
        destination_id=destination.id,
        body=models.DestinationUpdateRequest.from_dict({"config": {"method": "PUT"}}),
    ).parsed
    assert patched.name == "Orders (EU)" and patched.config.to_dict()["method"] == "PUT"
    fields = call("destinations_fields", 200, workspace_id=workspace_id, destination_id=destination.id).parsed
    assert fields.source.value == "static"

    # connection tests (Server-Sent Events; the generated client reads the stream to its end)
    stream = call(
        "destinations_test",
        200,
        workspace_id=workspace_id,
        destination_id=destination.id,
        idempotency_key="smoke-test",
    )
    done = parse(stream.content.decode())[-1]
    assert done.type == "done" and done.data["success"] is True, done
    run_id = done.data["test_run_id"]
    new = call(
        "destinations_test_new",
        200,
        workspace_id=workspace_id,
        body=models.ConnectionTestNewRequestWebhook.from_dict(
            {"destination_type": "webhook", "config": {"url": url, "headers": {"X-API-Key": API_KEY}}}
        ),
    )
    assert parse(new.content.decode())[-1].data["success"] is True
    replay = call("test_run_events", 200, workspace_id=workspace_id, run_id=run_id)
    assert parse(replay.content.decode())[-1].data["test_run_id"] == run_id
    run = call("test_run_retrieve", 200, workspace_id=workspace_id, run_id=run_id).parsed
    assert str(run.id) == run_id and run.success is True
    grant = call("test_run_stream_token", 201, workspace_id=workspace_id, run_id=run_id).parsed
    assert parse(httpx.get(grant.events_url, timeout=30).text)[-1].data["test_run_id"] == run_id  # no header
    runs = call("destinations_test_runs", 200, workspace_id=workspace_id, destination_id=destination.id).parsed
    assert [str(r.id) for r in runs] == [run_id]  # (before the job below adds its own)
    job = call(
        "test_jobs_create",
        202,
        workspace_id=workspace_id,
        body=models.TestJobCreateRequest.from_dict({"ids": [str(destination.id)]}),
    ).parsed
    job_events = call("test_jobs_events", 200, workspace_id=workspace_id, job_id=job.id)  # to its `done`
    assert parse(job_events.content.decode())[-1].type == "done"
    finished = call("test_jobs_retrieve", 200, workspace_id=workspace_id, job_id=job.id).parsed
    assert finished.total == 1 and finished.passed == 1
    history = call("destinations_history", 200, workspace_id=workspace_id, destination_id=destination.id).parsed
    assert [(e.action.value, e.via.value) for e in history] == [
        ("test", "job"),
        ("test", "api"),
        ("update", "api"),
        ("update", "api"),
        ("create", "api"),
    ]

    # OAuth: a workspace's own app, an authorisation URL; a connection made without OAuth has nothing to renew
    app = call(
        "oauth_apps_set",
        200,
        workspace_id=workspace_id,
        destination_type="salesforce",
        body=models.OAuthAppRequest(client_id="3MVG9-smoke", client_secret="smoke-secret"),
    ).parsed
    assert app.client_id == "3MVG9-smoke"
    used = call("oauth_apps_get", 200, workspace_id=workspace_id, destination_type="salesforce").parsed
    assert used.client_id == "3MVG9-smoke"
    authorization = call(
        "connections_oauth_authorize",
        200,
        workspace_id=workspace_id,
        destination_type="salesforce",
        body=models.OAuthAuthorizeRequest(redirect_uri="http://127.0.0.1:9/back", name="Salesforce via OAuth"),
    ).parsed
    assert "client_id=3MVG9-smoke" in authorization.authorization_url
    call("connections_oauth_refresh", 400, workspace_id=workspace_id, connection_id=connection.id)

    # deletes: refused while in use (409), then done
    pipeline = PipelineFactory(destination_id=destination.id, workspace=api.workspace)
    call("destinations_destroy", 409, workspace_id=workspace_id, destination_id=destination.id)
    pipeline.delete()
    call("connections_destroy", 409, workspace_id=workspace_id, connection_id=connection.id)
    assert call("destinations_destroy", 200, workspace_id=workspace_id, destination_id=destination.id).parsed.status
    call("connections_destroy", 200, workspace_id=workspace_id, connection_id=connection.id)
    call("destinations_retrieve", 404, workspace_id=workspace_id, destination_id=destination.id)

    assert called == operations, sorted(operations - called)
