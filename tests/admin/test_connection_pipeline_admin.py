"""Shared connections, Reverse ETL pipelines and syncs in the admin."""

import json

import pytest

from destinations.models import Connection, ReverseETLPipeline, Sync
from tests.admin_forms import editor
from tests.factories import ConnectionFactory, DestinationFactory, PipelineFactory, SyncFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db

CONN_SECRET = "Bearer conn-s3cr3t"


@pytest.fixture
def connection():
    return ConnectionFactory(name="Shared hooks", credentials={"headers": {"Authorization": CONN_SECRET}})


def test_connection_pages_hold_no_credential(staff, connection):
    for url in ("/admin/destinations/connection/", f"/admin/destinations/connection/{connection.pk}/change/"):
        response = staff.get(url)
        assert response.status_code == 200
        assert CONN_SECRET not in response.content.decode()
    widget = editor(staff.get(f"/admin/destinations/connection/{connection.pk}/change/"), "credentials")
    assert widget["data"] == {"headers": {"Authorization": ""}}
    assert not any(field["required"] for field in widget["schema"]["properties"].values())  # credentials fill part


def test_connection_edit_keeps_blank_credentials(staff, connection):
    response = staff.post(
        f"/admin/destinations/connection/{connection.pk}/change/",
        {"name": "Renamed", "credentials": json.dumps({"headers": {"Authorization": ""}})},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    connection.refresh_from_db()
    assert connection.name == "Renamed" and connection.credentials == {"headers": {"Authorization": CONN_SECRET}}


def test_connection_errors_name_the_credentials_path(staff, connection):
    response = staff.post(
        f"/admin/destinations/connection/{connection.pk}/change/",
        {"name": "x", "credentials": json.dumps({"method": "GET", "headers": {"Authorization": ""}})},
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["credentials"]
    assert any(e.startswith("credentials.method:") for e in errors), errors


def test_connection_add_asks_for_the_type_first(staff, staff_user):
    assert 'id="type-choices"' in staff.get("/admin/destinations/connection/add/").content.decode()
    workspace = WorkspaceFactory()
    response = staff.post(
        "/admin/destinations/connection/add/?destination_type=webhook",
        {"workspace": str(workspace.pk), "name": "New", "credentials": json.dumps({"headers": {"X-API-Key": "k"}})},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    created = Connection.objects.get(name="New")
    assert created.destination_type == "webhook"
    assert created.created_by == staff_user and created.credentials == {"headers": {"X-API-Key": "k"}}


def test_connection_page_lists_the_destinations_using_it(staff, connection):
    users = [
        DestinationFactory(workspace=connection.workspace, connection=connection, name=name) for name in ("B", "A")
    ]
    DestinationFactory(workspace=connection.workspace, name="Not using it")
    page = staff.get(f"/admin/destinations/connection/{connection.pk}/change/").content.decode()
    listed = page[page.index('<ul id="used-by">') :]
    listed = listed[: listed.index("</ul>")]
    assert "Not using it" not in listed
    assert listed.index(f'/admin/destinations/destination/{users[1].pk}/change/">A</a>') < listed.index(
        f'/admin/destinations/destination/{users[0].pk}/change/">B</a>'
    )


def test_connection_in_use_cannot_be_deleted(staff, connection):
    DestinationFactory(workspace=connection.workspace, connection=connection, name="Uses it")
    url = f"/admin/destinations/connection/{connection.pk}/delete/"
    page = staff.get(url).content.decode()
    assert 'id="delete-refused"' in page and "Uses it" in page
    staff.post(url, {"post": "yes"})
    assert Connection.objects.filter(pk=connection.pk).exists()


def test_pipelines_and_syncs_are_listed(staff):
    pipeline, sync = PipelineFactory(name="Nightly"), SyncFactory(name="CRM")
    assert "Nightly" in staff.get("/admin/destinations/reverseetlpipeline/").content.decode()
    assert "CRM" in staff.get("/admin/destinations/sync/").content.decode()
    assert staff.get(f"/admin/destinations/reverseetlpipeline/{pipeline.pk}/change/").status_code == 200
    assert staff.get(f"/admin/destinations/sync/{sync.pk}/change/").status_code == 200


def test_pipeline_destination_must_be_in_its_workspace(staff):
    pipeline = PipelineFactory()
    foreign = DestinationFactory()
    response = staff.post(
        f"/admin/destinations/reverseetlpipeline/{pipeline.pk}/change/",
        {
            "workspace": str(pipeline.workspace_id),
            "name": pipeline.name,
            "destination": str(foreign.pk),
            "is_active": "on",
        },
    )
    assert response.status_code == 200
    assert "same workspace" in response.content.decode()
    pipeline.refresh_from_db()
    assert pipeline.destination_id != foreign.pk


def test_sync_can_be_deactivated(staff):
    sync = SyncFactory()
    response = staff.post(
        f"/admin/destinations/sync/{sync.pk}/change/",
        {"workspace": str(sync.workspace_id), "name": sync.name, "destination": str(sync.destination_id)},
    )
    assert response.status_code == 302
    assert Sync.objects.get(pk=sync.pk).is_active is False
    assert ReverseETLPipeline.objects.count() == 0
