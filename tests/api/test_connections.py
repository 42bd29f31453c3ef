from destinations.models import Connection, Destination
from tests.factories import ConnectionFactory, DestinationFactory


def test_connection_crud_masks_credentials(api):
    body = {
        "name": "Shared hook auth",
        "destination_type": "webhook",
        "credentials": {"headers": {"Authorization": "Bearer shared-secret"}},
    }
    created = api.post(api.path("connections"), body, format="json")
    assert created.status_code == 201
    connection = created.json()
    assert connection["credentials"] == {"headers": {"Authorization": "********"}}
    assert "shared-secret" not in created.content.decode()
    assert [c["id"] for c in api.get(api.path("connections")).json()] == [connection["id"]]

    path = api.path(f"connections/{connection['id']}")
    updated = api.put(
        path, {"name": "Renamed", "credentials": {"headers": {"Authorization": "********"}}}, format="json"
    )
    assert updated.status_code == 200 and updated.json()["name"] == "Renamed"
    assert Connection.objects.get(pk=connection["id"]).credentials == body["credentials"]
    assert api.delete(path).json() == {"status": "deleted"}
    assert api.get(path).status_code == 404


def test_connection_credentials_fill_what_the_destination_leaves_out(api):
    connection = ConnectionFactory(workspace=api.workspace, credentials={"url": "https://hooks.example.com/in"})
    response = api.post(
        api.path("destinations"),
        {
            "name": "Via connection",
            "destination_type": "webhook",
            "config": {"method": "PUT"},
            "connection_id": str(connection.pk),
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["connection_id"] == str(connection.pk)
    destination = Destination.objects.get(pk=response.json()["id"])
    assert destination.effective_config() == {"url": "https://hooks.example.com/in", "method": "PUT"}


def test_connection_must_match_the_type_and_workspace(api):
    connection = ConnectionFactory(workspace=api.workspace, destination_type="webhook")
    connection.destination_type = "hubspot"
    connection.save()
    response = api.post(
        api.path("destinations"),
        {
            "name": "x",
            "destination_type": "webhook",
            "config": {"url": "https://x.example.com"},
            "connection_id": str(connection.pk),
        },
        format="json",
    )
    assert response.status_code == 400 and "connection_id" in response.json()["errors"]


def test_connection_in_use_cannot_be_deleted(api):
    connection = ConnectionFactory(workspace=api.workspace)
    destination = DestinationFactory(workspace=api.workspace, connection=connection, name="Uses it")
    response = api.delete(api.path(f"connections/{connection.pk}"))
    assert response.status_code == 409
    assert response.json()["blocking"] == [{"type": "destination", "id": str(destination.pk), "name": "Uses it"}]
    assert Connection.objects.filter(pk=connection.pk).exists()


def test_connection_credentials_validated_by_path(api):
    response = api.post(
        api.path("connections"),
        {"name": "x", "destination_type": "webhook", "credentials": {"method": "GET", "bogus": 1}},
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"credentials.method", "credentials.bogus"}


def test_changing_credentials_resets_destinations_and_keeps_them_valid(api):
    connection = ConnectionFactory(workspace=api.workspace, credentials={"url": "https://a.example.com/in"})
    destination = DestinationFactory(
        workspace=api.workspace, connection=connection, config={}, secrets={}, status="connected"
    )
    path = api.path(f"connections/{connection.pk}")
    assert api.put(path, {"credentials": {"url": None}}, format="json").status_code == 400
    assert api.put(path, {"credentials": {"url": "https://b.example.com/in"}}, format="json").status_code == 200
    destination.refresh_from_db()
    assert destination.status == "pending"
    assert destination.effective_config()["url"] == "https://b.example.com/in"
