import json

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext

from destinations.models import Destination, DestinationStatus
from tests.factories import DestinationFactory, PipelineFactory, SyncFactory

WEBHOOK = {
    "name": "Custom Webhook",
    "destination_type": "webhook",
    "config": {"url": "https://api.example.com/webhook", "method": "POST", "headers": {"X-API-Key": "your-api-key"}},
}


def create(api, body=WEBHOOK):
    return api.post(api.path("destinations"), body, format="json")


def test_create_answers_201_with_the_destination_object(api):
    response = create(api)
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {
        "id",
        "workspace_id",
        "connection_id",
        "name",
        "destination_type",
        "config",
        "status",
        "status_error",
        "created_by",
        "created_at",
        "updated_at",
        "credentials_expire_at",  # beyond the contract (issue 23): null until a test learns it
    }
    assert body["credentials_expire_at"] is None
    assert body["workspace_id"] == str(api.workspace.pk)
    assert body["created_by"] == str(api.user.pk)
    assert body["status"] == "pending" and body["status_error"] == ""
    assert body["connection_id"] is None
    assert body["config"] == {"url": WEBHOOK["config"]["url"], "method": "POST", "headers": {"X-API-Key": "********"}}
    assert "your-api-key" not in response.content.decode()


def test_secrets_are_encrypted_in_the_raw_column(api):
    destination_id = create(api).json()["id"]
    with db_connection.cursor() as cursor:
        cursor.execute("SELECT config, secrets FROM destinations_destination")
        rows = cursor.fetchall()
    raw = json.dumps([str(col) for row in rows for col in row])
    assert "your-api-key" not in raw
    assert Destination.objects.get(pk=destination_id).secrets == {"headers": {"X-API-Key": "your-api-key"}}


def test_list_is_a_bare_array_in_creation_order(api):
    ids = [create(api, {**WEBHOOK, "name": f"D{i}"}).json()["id"] for i in range(3)]
    response = api.get(api.path("destinations"))
    assert response.status_code == 200
    assert [d["id"] for d in response.json()] == ids


def test_get_one(api):
    destination_id = create(api).json()["id"]
    response = api.get(api.path(f"destinations/{destination_id}"))
    assert response.status_code == 200 and response.json()["name"] == "Custom Webhook"


@pytest.mark.parametrize(
    ("body", "paths"),
    [
        ({**WEBHOOK, "config": {"method": "GET"}}, {"config.url", "config.method"}),
        ({"destination_type": "webhook", "config": {}}, {"name", "config.url"}),
        ({"name": "x", "destination_type": "webhook", "config": {}}, {"config.url"}),
        ({**WEBHOOK, "config": "nope"}, {"config"}),
        ({**WEBHOOK, "config": {**WEBHOOK["config"], "urll": "x"}}, {"config.urll"}),
        ({**WEBHOOK, "workspace": "x"}, {"workspace"}),
        ({**WEBHOOK, "connection_id": "not-a-uuid"}, {"connection_id"}),
    ],
)
def test_create_400_names_each_bad_field_by_path(api, body, paths):
    response = create(api, body)
    assert response.status_code == 400
    assert set(response.json()["errors"]) == paths
    assert not Destination.objects.exists()


def test_unknown_type_lists_the_valid_ones(api):
    response = create(api, {**WEBHOOK, "destination_type": "fax"})
    assert response.status_code == 400
    body = response.json()
    assert "webhook" in body["valid_types"]
    assert "webhook" in body["errors"]["destination_type"][0]


def test_put_changes_only_sent_fields_and_keeps_masked_secrets(api):
    destination = create(api).json()
    Destination.objects.filter(pk=destination["id"]).update(status=DestinationStatus.CONNECTED)
    path = api.path(f"destinations/{destination['id']}")

    renamed = api.put(path, {"name": "Renamed"}, format="json").json()
    assert renamed["name"] == "Renamed" and renamed["status"] == "connected"
    assert renamed["config"] == destination["config"]

    changed = api.put(path, {"config": {"method": "PUT", "headers": {"X-API-Key": "********"}}}, format="json")
    assert changed.status_code == 200
    assert changed.json()["status"] == "pending"
    stored = Destination.objects.get(pk=destination["id"])
    assert stored.config == {"url": WEBHOOK["config"]["url"], "method": "PUT", "headers": {"X-API-Key": "********"}}
    assert stored.secrets == {"headers": {"X-API-Key": "your-api-key"}}


def test_put_config_null_removes_a_key_and_invalid_config_is_400_unchanged(api):
    destination = create(api).json()
    path = api.path(f"destinations/{destination['id']}")
    assert api.put(path, {"config": {"method": None}}, format="json").json()["config"].get("method") is None
    response = api.put(path, {"config": {"url": None}}, format="json")
    errors = response.json()["errors"]
    assert response.status_code == 400 and "config.url" in errors and "config.headers.X-API-Key" in errors
    assert Destination.objects.get(pk=destination["id"]).config["url"] == WEBHOOK["config"]["url"]


def test_type_change_needs_a_config_valid_for_the_new_type(api):
    destination = create(api).json()
    path = api.path(f"destinations/{destination['id']}")
    response = api.put(path, {"destination_type": "salesforce"}, format="json")
    assert response.status_code == 400 and "config" in response.json()["errors"]
    response = api.put(path, {"destination_type": "fax", "config": {}}, format="json")
    assert response.status_code == 400 and "destination_type" in response.json()["errors"]


def test_status_reset_clears_status_error(api):
    destination = create(api).json()
    Destination.objects.filter(pk=destination["id"]).update(status="error", status_error="boom")
    body = api.put(api.path(f"destinations/{destination['id']}"), {"config": {"method": "PATCH"}}, format="json").json()
    assert body["status"] == "pending" and body["status_error"] == ""


def test_delete(api):
    destination_id = create(api).json()["id"]
    response = api.delete(api.path(f"destinations/{destination_id}"))
    assert response.status_code == 200 and response.json() == {"status": "deleted"}
    assert api.get(api.path(f"destinations/{destination_id}")).status_code == 404


def test_delete_refused_while_active_pipeline_or_sync_uses_it(api):
    destination = DestinationFactory(workspace=api.workspace)
    pipeline = PipelineFactory(destination=destination, name="Nightly CRM")
    sync = SyncFactory(destination=destination, name="VIP audience")
    SyncFactory(destination=destination, name="Old", is_active=False)
    response = api.delete(api.path(f"destinations/{destination.pk}"))
    assert response.status_code == 409
    body = response.json()
    assert body["blocking"] == [
        {"type": "reverse_etl_pipeline", "id": str(pipeline.pk), "name": "Nightly CRM"},
        {"type": "sync", "id": str(sync.pk), "name": "VIP audience"},
    ]
    assert "Nightly CRM" in body["detail"]
    assert Destination.objects.filter(pk=destination.pk).exists()


def test_inactive_references_do_not_block_and_are_detached(api):
    destination = DestinationFactory(workspace=api.workspace)
    old = SyncFactory(destination=destination, is_active=False)
    assert api.delete(api.path(f"destinations/{destination.pk}")).status_code == 200
    old.refresh_from_db()
    assert old.destination is None


def test_model_layer_refuses_too(db):
    from django.db.models.deletion import ProtectedError

    destination = DestinationFactory()
    PipelineFactory(destination=destination)
    with pytest.raises(ProtectedError):
        destination.delete()
    with pytest.raises(ProtectedError):
        Destination.objects.filter(pk=destination.pk).delete()


def test_list_of_200_runs_a_constant_number_of_queries(api):
    DestinationFactory.create_batch(5, workspace=api.workspace)
    api.get(api.path("destinations"))  # records the token's last use, which happens once a minute
    with CaptureQueriesContext(db_connection) as few:
        assert len(api.get(api.path("destinations")).json()) == 5
    DestinationFactory.create_batch(195, workspace=api.workspace)
    with CaptureQueriesContext(db_connection) as many:
        assert len(api.get(api.path("destinations")).json()) == 200
    assert len(many) == len(few)


def test_destination_types_lists_all_with_schema_and_steps(api):
    response = api.get("/api/v1/destination-types")
    assert response.status_code == 200
    webhook = next(t for t in response.json() if t["type"] == "webhook")
    assert webhook["label"] and webhook["steps"][0]["name"] == "connectivity"
    assert webhook["config_schema"]["properties"]["headers"]["writeOnly"] is True
    assert "headers" in webhook["secret_fields"]
    hubspot = next(t for t in response.json() if t["type"] == "hubspot")
    assert hubspot["default_base_url"] == "https://api.hubapi.com"


def test_a_masked_value_for_a_header_never_stored_is_not_saved_as_the_mask(api):
    destination = create(api).json()
    body = {"config": {"headers": {"X-API-Key": "********", "X-New": "********"}}}
    api.put(api.path(f"destinations/{destination['id']}"), body, format="json")
    assert Destination.objects.get(pk=destination["id"]).secrets == {"headers": {"X-API-Key": "your-api-key"}}
