"""The destination admin: list, edit through the services with masked secrets, refused deletes."""

import json

import pytest

from destinations.models import Destination, DestinationStatus, ReverseETLPipeline, Sync, TestRun
from tests.admin.conftest import INLINE_MANAGEMENT, change_url, destination_form, messages_of
from tests.factories import (
    ConnectionFactory,
    DestinationFactory,
    PipelineFactory,
    SyncFactory,
    WorkspaceFactory,
)

pytestmark = pytest.mark.django_db

SECRET = "s3cr3t-header-value"
SIGNING = "signing-s3cr3t"
LIST_URL = "/admin/destinations/destination/"


@pytest.fixture
def destination():
    return DestinationFactory(
        name="Orders hook",
        config={"url": "https://hooks.example.com/in", "method": "POST"},
        secrets={"headers": {"X-API-Key": SECRET}, "signing_secret": SIGNING},
    )


# --- list ------------------------------------------------------------------------------------------


def test_list_shows_name_type_workspace_badge_and_last_tested(staff, destination):
    Destination.objects.filter(pk=destination.pk).update(status=DestinationStatus.ERROR, status_error="HTTP 401")
    page = staff.get(LIST_URL).content.decode()
    assert "Orders hook" in page and "webhook" in page and destination.workspace.name in page
    assert 'class="status-badge status-error"' in page and 'title="HTTP 401"' in page
    assert "Last tested at" in page
    assert SECRET not in page and SIGNING not in page


def test_filters_by_type_status_and_workspace(staff, destination):
    other = DestinationFactory(name="Other hook", status=DestinationStatus.CONNECTED)

    def names(query):
        response = staff.get(LIST_URL + query)
        return {d.name for d in response.context["cl"].result_list}

    assert names("?status__exact=connected") == {"Other hook"}
    assert names("?destination_type__exact=webhook") == {"Orders hook", "Other hook"}
    assert names(f"?workspace__id__exact={other.workspace_id}") == {"Other hook"}


def test_search_by_name_and_by_id(staff, destination):
    other = DestinationFactory(name="Zebra")

    def names(term):
        return {d.name for d in staff.get(LIST_URL, {"q": term}).context["cl"].result_list}

    assert names("orders") == {"Orders hook"}
    assert names(str(other.pk)) == {"Zebra"}
    assert names("no-such-thing") == set()


# --- change page: no secrets, history --------------------------------------------------------------


def test_change_page_masks_secrets(staff, destination):
    response = staff.get(change_url(destination))
    page = response.content.decode()
    assert response.status_code == 200
    assert SECRET not in page and SIGNING not in page
    assert "********" in page and "https://hooks.example.com/in" in page
    assert 'id="test-connection"' in page  # the Test connection button


def test_every_destination_page_keeps_secrets_out(staff, destination):
    pipeline = PipelineFactory(destination=destination, name="Nightly")
    TestRun.objects.create(
        workspace=destination.workspace,
        destination=destination,
        destination_type="webhook",
        success=True,
        steps=[{"name": "connectivity", "status": "passed", "message": "ok", "duration_ms": 3}],
    )
    run = TestRun.objects.get()
    pages = [
        LIST_URL,
        change_url(destination),
        f"/admin/destinations/destination/{destination.pk}/delete/",
        f"/admin/destinations/destination/{destination.pk}/history/",
        f"/admin/destinations/destination/{destination.pk}/test/",
        f"/admin/destinations/destination/{destination.pk}/test/{run.pk}/",
        "/admin/destinations/testrun/",
        f"/admin/destinations/testrun/{run.pk}/change/",
        f"/admin/destinations/reverseetlpipeline/{pipeline.pk}/change/",
    ]
    for url in pages:
        response = staff.get(url)
        assert response.status_code == 200, url
        body = response.content.decode()
        assert SECRET not in body and SIGNING not in body, url


def test_history_inline_newest_first_and_summarised(staff, destination):
    older = TestRun.objects.create(
        workspace=destination.workspace,
        destination=destination,
        destination_type="webhook",
        success=False,
        steps=[
            {"name": "connectivity", "status": "passed", "message": "Reached", "duration_ms": 3},
            {
                "name": "delivery",
                "status": "failed",
                "message": "HTTP 401",
                "duration_ms": 4,
                "error": {"code": "auth_invalid"},
            },
        ],
    )
    newer = TestRun.objects.create(
        workspace=destination.workspace,
        destination=destination,
        destination_type="webhook",
        success=True,
        steps=[{"name": "connectivity", "status": "passed", "message": "Reached", "duration_ms": 3}],
    )
    TestRun.objects.filter(pk=older.pk).update(started_at=newer.started_at.replace(year=2020))
    response = staff.get(change_url(destination))
    formset = response.context["inline_admin_formsets"][0].formset
    assert [form.instance.pk for form in formset.forms] == [newer.pk, older.pk]
    page = response.content.decode()
    assert "✗ delivery (auth_invalid)" in page
    assert 'name="test_runs-0-started_at"' not in page  # read-only


def test_history_inline_is_limited(staff, destination):
    for _ in range(25):
        TestRun.objects.create(workspace=destination.workspace, destination=destination, destination_type="webhook")
    formset = staff.get(change_url(destination)).context["inline_admin_formsets"][0].formset
    assert len(formset.forms) == 20


# --- editing through the service -------------------------------------------------------------------


def test_edit_with_masked_secrets_keeps_them(staff, destination):
    config = {
        "url": "https://hooks.example.com/in",
        "method": "PUT",
        "headers": {"X-API-Key": "********"},
        "signing_secret": "********",
    }
    response = staff.post(change_url(destination), destination_form(destination, config_json=config))
    assert response.status_code == 302, response.content.decode()[:2000]
    destination.refresh_from_db()
    assert destination.config["method"] == "PUT"
    assert destination.secrets == {"headers": {"X-API-Key": SECRET}, "signing_secret": SIGNING}
    assert destination.status == DestinationStatus.PENDING


def test_a_new_url_with_masked_secrets_asks_for_them_again(staff, destination):
    config = {"url": "https://elsewhere.example.net/in", "headers": {"X-API-Key": "********"}, "signing_secret": ""}
    response = staff.post(change_url(destination), destination_form(destination, config_json=config))
    assert response.status_code == 200
    errors = " ".join(response.context["adminform"].form.errors["config_json"])
    assert "config.headers.X-API-Key: Re-enter this secret" in errors and "config.signing_secret" in errors
    destination.refresh_from_db()
    assert destination.config["url"] == "https://hooks.example.com/in"


def test_edit_with_blank_secrets_keeps_them(staff, destination):
    config = {"url": "https://hooks.example.com/in", "headers": {"X-API-Key": ""}, "signing_secret": ""}
    response = staff.post(change_url(destination), destination_form(destination, config_json=config))
    assert response.status_code == 302
    destination.refresh_from_db()
    assert destination.secrets == {"headers": {"X-API-Key": SECRET}, "signing_secret": SIGNING}
    assert "method" not in destination.config  # a key left out of the document is removed


def test_edit_replaces_a_secret_typed_anew(staff, destination):
    config = {
        "url": "https://hooks.example.com/in",
        "headers": {"X-API-Key": "new-key", "X-Extra": "two"},
        "signing_secret": "********",
    }
    assert staff.post(change_url(destination), destination_form(destination, config_json=config)).status_code == 302
    destination.refresh_from_db()
    assert destination.secrets == {"headers": {"X-API-Key": "new-key", "X-Extra": "two"}, "signing_secret": SIGNING}


def test_edit_removes_a_secret_left_out(staff, destination):
    config = {"url": "https://hooks.example.com/in", "headers": {"X-API-Key": "********"}}
    assert staff.post(change_url(destination), destination_form(destination, config_json=config)).status_code == 302
    destination.refresh_from_db()
    assert destination.secrets == {"headers": {"X-API-Key": SECRET}}


def test_unchanged_config_keeps_status(staff, destination):
    Destination.objects.filter(pk=destination.pk).update(status=DestinationStatus.CONNECTED)
    destination.refresh_from_db()
    response = staff.post(change_url(destination), destination_form(destination, name="Renamed"))
    assert response.status_code == 302
    destination.refresh_from_db()
    assert destination.name == "Renamed" and destination.status == DestinationStatus.CONNECTED


def test_validation_errors_name_the_config_field_path(staff, destination):
    config = {"url": "nope", "method": "GET", "headers": {"X-API-Key": "********"}}
    response = staff.post(change_url(destination), destination_form(destination, config_json=config))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "config.url: Must be an http(s) URL with a host." in errors["config_json"]
    assert any(e.startswith("config.method: Must be one of") for e in errors["config_json"])
    destination.refresh_from_db()
    assert destination.config["url"] == "https://hooks.example.com/in"


def test_unknown_config_field_is_named(staff, destination):
    config = {"url": "https://hooks.example.com/in", "colour": "red"}
    response = staff.post(change_url(destination), destination_form(destination, config_json=config))
    assert "config.colour: Unknown field for this destination type." in response.content.decode()


def test_a_secret_typed_into_a_rejected_form_is_not_echoed(staff, destination):
    config = {"url": "nope", "headers": {"X-API-Key": "brand-new-secret-value"}, "signing_secret": "another-new-one"}
    response = staff.post(change_url(destination), destination_form(destination, config_json=config))
    page = response.content.decode()
    assert response.status_code == 200
    assert "brand-new-secret-value" not in page and "another-new-one" not in page
    assert SECRET not in page and SIGNING not in page
    assert "type them again: headers.X-API-Key, signing_secret." in page


def test_invalid_json_is_refused_and_not_echoed(staff, destination):
    raw = '{"url": "https://x.example.com", "headers": {"X-API-Key": "typed-secret-zz"'
    for new_type in ("webhook", "braze"):
        response = staff.post(
            change_url(destination), destination_form(destination, config_json=raw, destination_type=new_type)
        )
        page = response.content.decode()
        assert response.status_code == 200
        assert "Enter valid JSON" in page
        assert "typed-secret-zz" not in page and SECRET not in page and SIGNING not in page, new_type
        assert "https://hooks.example.com/in" in page  # the stored config, masked, is shown instead


def test_connection_from_another_workspace_is_refused(staff, destination):
    foreign = ConnectionFactory()  # another workspace
    response = staff.post(change_url(destination), destination_form(destination, connection=str(foreign.pk)))
    assert response.status_code == 200
    assert "connection" in response.context["adminform"].form.errors
    destination.refresh_from_db()
    assert destination.connection_id is None


def test_type_change_validates_against_the_new_type(staff, destination):
    config = {"url": "https://hooks.example.com/in", "headers": {"X-API-Key": "********"}}
    response = staff.post(
        change_url(destination), destination_form(destination, destination_type="braze", config_json=config)
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["config_json"]
    assert any(e.startswith("config.") for e in errors), errors
    destination.refresh_from_db()
    assert destination.destination_type == "webhook"


def test_add_goes_through_the_service(staff, staff_user):
    workspace = WorkspaceFactory()
    config = {"url": "https://hooks.example.com/new", "headers": {"X-API-Key": "fresh"}, "signing_secret": ""}
    response = staff.post(
        "/admin/destinations/destination/add/",
        {
            "workspace": str(workspace.pk),
            "name": "New hook",
            "destination_type": "webhook",
            "connection": "",
            "config_json": json.dumps(config),
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    created = Destination.objects.get(name="New hook")
    assert created.workspace == workspace and created.created_by == staff_user
    assert created.own_config() == {"url": "https://hooks.example.com/new", "headers": {"X-API-Key": "fresh"}}
    assert created.secrets == {"headers": {"X-API-Key": "fresh"}}  # the blank secret counts as not set
    assert created.status == DestinationStatus.PENDING


def test_add_with_invalid_config_names_the_path(staff):
    workspace = WorkspaceFactory()
    response = staff.post(
        "/admin/destinations/destination/add/",
        {
            "workspace": str(workspace.pk),
            "name": "Bad",
            "destination_type": "webhook",
            "connection": "",
            "config_json": json.dumps({"method": "POST"}),
        },
    )
    assert response.status_code == 200
    assert "config.url: This field is required." in response.context["adminform"].form.errors["config_json"]
    assert not Destination.objects.exists()


def test_add_page_renders(staff):
    response = staff.get("/admin/destinations/destination/add/")
    assert response.status_code == 200
    assert "Custom webhook (webhook)" in response.content.decode()


# --- deleting --------------------------------------------------------------------------------------


def test_delete_refused_while_active_pipeline_and_sync_use_it(staff, destination):
    PipelineFactory(destination=destination, name="Nightly orders")
    SyncFactory(destination=destination, name="CRM sync")
    url = f"/admin/destinations/destination/{destination.pk}/delete/"
    page = staff.get(url).content.decode()
    assert 'id="delete-refused"' in page and "cannot be deleted" in page
    assert "Active Reverse ETL pipeline" in page and "Nightly orders" in page
    assert "Active sync" in page and "CRM sync" in page
    assert "Yes, I’m sure" not in page
    staff.post(url, {"post": "yes"})
    assert Destination.objects.filter(pk=destination.pk).exists()


def test_delete_detaches_inactive_users(staff, destination):
    pipeline = PipelineFactory(destination=destination, is_active=False)
    response = staff.post(f"/admin/destinations/destination/{destination.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Destination.objects.filter(pk=destination.pk).exists()
    pipeline.refresh_from_db()
    assert pipeline.destination is None


def test_delete_race_is_refused_with_a_message(staff, destination, monkeypatch):
    """A pipeline activated between the confirmation page and the delete: the service refuses."""
    from destinations.admin import DestinationAdmin

    pipeline = PipelineFactory(destination=destination, is_active=False)

    def activate_then_delete(self, obj):
        ReverseETLPipeline.objects.filter(pk=pipeline.pk).update(is_active=True)
        from destinations import services

        services.destination_delete(destination=obj)

    monkeypatch.setattr(DestinationAdmin, "service_delete", activate_then_delete)
    response = staff.post(f"/admin/destinations/destination/{destination.pk}/delete/", {"post": "yes"}, follow=True)
    assert Destination.objects.filter(pk=destination.pk).exists()
    assert any("used by active reverse_etl_pipeline" in m for m in messages_of(response))


def test_bulk_delete_names_blockers_then_deletes_the_free_ones(staff, destination):
    free = DestinationFactory(name="Free hook")
    SyncFactory(destination=destination, name="CRM sync")
    data = {"action": "delete_selected", "_selected_action": [str(destination.pk), str(free.pk)]}
    page = staff.post(LIST_URL, data).content.decode()
    assert "cannot be deleted" in page and "CRM sync" in page
    assert Destination.objects.count() == 2

    response = staff.post(
        LIST_URL, {"action": "delete_selected", "_selected_action": [str(free.pk)], "post": "yes"}, follow=True
    )
    assert not Destination.objects.filter(pk=free.pk).exists()
    assert "Deleted 1 destination." in messages_of(response)


def test_bulk_delete_race_reports_the_refused(staff, destination, monkeypatch):
    from destinations.admin import DestinationAdmin

    free = DestinationFactory(name="Free hook")
    original = DestinationAdmin.get_deleted_objects

    def nothing_protected(self, objs, request):
        to_delete, counts, perms, _protected = original(self, objs, request)
        return to_delete, counts, perms, []

    SyncFactory(destination=destination, name="CRM sync")
    monkeypatch.setattr(DestinationAdmin, "get_deleted_objects", nothing_protected)
    response = staff.post(
        LIST_URL,
        {"action": "delete_selected", "post": "yes", "_selected_action": [str(destination.pk), str(free.pk)]},
        follow=True,
    )
    msgs = messages_of(response)
    assert "Deleted 1 destination." in msgs
    assert any("CRM sync" in m and "Orders hook" in m for m in msgs)
    assert Destination.objects.filter(pk=destination.pk).exists()
    assert Sync.objects.get().destination_id == destination.pk


def test_non_staff_cannot_open_the_admin(client, django_user_model, destination):
    user = django_user_model.objects.create_user(username="plain", password="pw-plain-1")
    client.force_login(user)
    response = client.get(change_url(destination))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_management_form_is_needed_for_history_inline(staff, destination):
    data = destination_form(destination)
    for key in INLINE_MANAGEMENT:
        data.pop(key)
    assert staff.post(change_url(destination), data).status_code == 200  # refused, not saved
