"""The destination admin: list, the generated config form saved through the services, refused deletes."""

import json
import re

import pytest

from connectors.runtime.registry import connector_classes, connector_types
from destinations.models import Destination, DestinationStatus, ReverseETLPipeline, Sync, TestRun
from tests.admin_forms import change_url, destination_form, editor, messages_of
from tests.factories import (
    ConnectionFactory,
    DestinationFactory,
    PipelineFactory,
    SyncFactory,
    WorkspaceFactory,
)

pytestmark = pytest.mark.django_db

SECRET = "s3cr3t-header-value"
SIGNING = "whsec_c2lnbmluZy1zM2NyM3QtZm9yLWFkbWluLXRlc3Rz"  # a Standard Webhooks secret (24+ bytes)
LIST_URL = "/admin/destinations/destination/"
ADD_URL = "/admin/destinations/destination/add/"


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


def test_change_page_holds_no_secret(staff, destination):
    response = staff.get(change_url(destination))
    page = response.content.decode()
    assert response.status_code == 200
    assert SECRET not in page and SIGNING not in page
    data = editor(response)["data"]
    assert data == {
        "url": "https://hooks.example.com/in",
        "method": "POST",
        "headers": {"X-API-Key": ""},
        "signing_secret": "",
    }
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


def test_history_newest_first_and_summarised(staff, destination):
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
    page = staff.get(change_url(destination)).content.decode()
    history = page[page.index('id="recent-tests"') :]
    assert history.index(f"/admin/destinations/testrun/{newer.pk}/") < history.index(
        f"/admin/destinations/testrun/{older.pk}/"
    )
    assert "✗ delivery (auth_invalid)" in history


def test_history_is_limited(staff, destination):
    for _ in range(25):
        TestRun.objects.create(workspace=destination.workspace, destination=destination, destination_type="webhook")
    page = staff.get(change_url(destination)).content.decode()
    assert len(re.findall(r'href="/admin/destinations/testrun/[0-9a-f-]{36}/change/"', page)) == 20


# --- the generated form ----------------------------------------------------------------------------


@pytest.mark.parametrize("destination_type", sorted(connector_classes()))
def test_every_type_gets_a_form_from_its_schema(staff, destination_type):
    """Labels, descriptions, enums as selects, secrets as password (or multi-line) inputs; no raw JSON box."""
    connector_cls = connector_classes()[destination_type]
    response = staff.get(ADD_URL, {"destination_type": destination_type})
    assert response.status_code == 200
    widget = editor(response)
    fields = widget["schema"]["properties"]
    schema = connector_cls.config_schema
    assert list(fields) == list(schema["properties"])
    secrets = set(connector_cls.secret_fields())
    for name, spec in schema["properties"].items():
        field = fields[name]
        assert field["title"] and (field["title"] != name or "_" not in name)
        assert field["required"] == (name in schema["required"])
        if spec.get("type") == "object":
            assert field["type"] == "object" and field["additionalProperties"]["type"] == "string"  # key/value rows
            if name in secrets:
                assert field["additionalProperties"]["format"] == "password"
            continue
        assert field["help_text"] == spec.get("description", "").replace("`", "")  # code spans shown as text
        if "enum" in spec:
            assert field["enum"] == spec["enum"]  # a select
        if name in secrets:
            assert field.get("format") == "password" or field.get("widget") == "textarea", name
    assert 'style="display: none;"' in response.content.decode()  # the editor's data field is hidden


def test_multiline_secrets_are_text_areas(staff):
    for destination_type, name in (("snowflake", "private_key"), ("bigquery", "service_account_json")):
        fields = editor(staff.get(ADD_URL, {"destination_type": destination_type}))["schema"]["properties"]
        assert fields[name]["widget"] == "textarea" and "format" not in fields[name]


def test_stored_secrets_say_blank_keeps_them(staff, destination):
    fields = editor(staff.get(change_url(destination)))["schema"]["properties"]
    assert "leave blank to keep" in fields["signing_secret"]["help_text"]
    assert fields["signing_secret"]["placeholder"] == "•••••••• (stored)"
    assert "leave blank to keep" in fields["headers"]["description"]


# --- the type is chosen first; changing it is deliberate -------------------------------------------


def test_add_page_asks_for_the_type_first(staff):
    response = staff.get(ADD_URL)
    page = response.content.decode()
    assert response.status_code == 200
    assert 'id="type-choices"' in page and "data-django-jsonform" not in page
    for name, connector_cls in connector_classes().items():
        assert f'href="?destination_type={name}"' in page and connector_cls.label in page
    assert staff.get(ADD_URL, {"destination_type": "nope"}).content.decode().count('class="type-choice"') == 16


def test_add_page_with_a_type_shows_its_form(staff):
    response = staff.get(ADD_URL, {"destination_type": "braze"})
    assert "Type: <strong>Braze</strong>" in response.content.decode()
    assert set(editor(response)["schema"]["properties"]) == {"rest_endpoint", "api_key", "identifier_type"}
    assert editor(response)["data"] == {}


def test_type_is_not_a_field_of_the_change_form(staff, destination):
    response = staff.get(change_url(destination))
    assert "destination_type" not in response.context["adminform"].form.fields
    response = staff.post(change_url(destination), destination_form(destination, destination_type="braze"))
    assert response.status_code == 302
    destination.refresh_from_db()
    assert destination.destination_type == "webhook"
    assert (
        f'href="/admin/destinations/destination/{destination.pk}/change-type/"'
        in staff.get(change_url(destination)).content.decode()
    )


def test_change_type_page_offers_the_other_types(staff, destination):
    page = staff.get(f"/admin/destinations/destination/{destination.pk}/change-type/").content.decode()
    assert 'name="new_type"' in page and '<option value="braze">Braze</option>' in page
    assert '<option value="webhook">' not in page
    assert "stored secrets are not carried over" in page


BRAZE = {"rest_endpoint": "https://rest.iad-01.braze.com", "api_key": "braze-key-1", "identifier_type": "external_id"}


def test_changing_type_needs_a_fresh_config_and_a_confirmation(staff, destination):
    url = change_url(destination) + "?new_type=braze"
    response = staff.get(url)
    assert 'id="retype-banner"' in response.content.decode()
    assert editor(response)["data"] == {}  # a fresh config: nothing carried over
    assert set(editor(response)["schema"]["properties"]) == {"rest_endpoint", "api_key", "identifier_type"}

    refused = staff.post(url, destination_form(destination, config=BRAZE))
    assert "confirm_type_change" in refused.context["adminform"].form.errors
    destination.refresh_from_db()
    assert destination.destination_type == "webhook"

    response = staff.post(url, destination_form(destination, config=BRAZE, confirm_type_change="on"))
    assert response.status_code == 302, response.content.decode()[:3000]
    destination.refresh_from_db()
    assert destination.destination_type == "braze" and destination.own_config() == BRAZE
    assert destination.status == DestinationStatus.PENDING


# --- editing: one service call, errors on the fields ------------------------------------------------


@pytest.fixture
def service_calls(monkeypatch):
    """Counts the service calls (each goes through to the real service)."""
    from destinations import services

    calls = []
    for name in ("destination_create", "destination_update"):
        real = getattr(services, name)

        def spy(*args, _real=real, _name=name, **kwargs):
            calls.append(_name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(services, name, spy)
    return calls


def test_edit_saves_once_and_blank_secrets_keep_their_values(staff, destination, service_calls):
    config = {
        "url": "https://hooks.example.com/in",
        "method": "PUT",
        "headers": {"X-API-Key": ""},
        "signing_secret": "",
    }
    response = staff.post(change_url(destination), destination_form(destination, config=config))
    assert response.status_code == 302, response.content.decode()[:2000]
    assert service_calls == ["destination_update"]
    destination.refresh_from_db()
    assert destination.config["method"] == "PUT"
    assert destination.secrets == {"headers": {"X-API-Key": SECRET}, "signing_secret": SIGNING}
    assert destination.status == DestinationStatus.PENDING


def test_edit_replaces_a_secret_typed_anew_and_adds_a_header(staff, destination):
    config = {"url": "https://hooks.example.com/in", "headers": {"X-API-Key": "new-key", "X-Extra": "two"}}
    assert staff.post(change_url(destination), destination_form(destination, config=config)).status_code == 302
    destination.refresh_from_db()
    assert destination.secrets == {"headers": {"X-API-Key": "new-key", "X-Extra": "two"}, "signing_secret": SIGNING}


def test_a_header_row_removed_is_removed_and_a_blank_field_unset(staff, destination):
    config = {"url": "https://hooks.example.com/in", "method": "", "headers": {}, "signing_secret": ""}
    assert staff.post(change_url(destination), destination_form(destination, config=config)).status_code == 302
    destination.refresh_from_db()
    assert destination.secrets == {"signing_secret": SIGNING}
    assert destination.config == {"url": "https://hooks.example.com/in", "signing_secret": "********"}


def test_unchanged_config_keeps_status(staff, destination):
    Destination.objects.filter(pk=destination.pk).update(status=DestinationStatus.CONNECTED)
    destination.refresh_from_db()
    response = staff.post(change_url(destination), destination_form(destination, name="Renamed"))
    assert response.status_code == 302
    destination.refresh_from_db()
    assert destination.name == "Renamed" and destination.status == DestinationStatus.CONNECTED


def test_service_errors_land_on_the_config_fields(staff, destination, service_calls):
    config = {"url": "nope", "method": "GET", "headers": {"X-API-Key": ""}}
    response = staff.post(change_url(destination), destination_form(destination, config=config))
    assert response.status_code == 200
    assert service_calls == ["destination_update"]  # refused by the one call, nothing tried twice
    errors = response.context["adminform"].form.errors
    assert "config.url: Must be an http(s) URL with a host." in errors["config"]
    assert any(e.startswith("config.method: Must be one of") for e in errors["config"])
    error_map = editor(response)["errorMap"]  # and under the inputs they concern
    assert error_map["url"] == ["Must be an http(s) URL with a host."] and "method" in error_map
    destination.refresh_from_db()
    assert destination.config["url"] == "https://hooks.example.com/in"


def test_a_changed_url_needs_the_secrets_typed_again(staff, destination):
    """The config module's rule: stored secrets are never sent to a new host."""
    config = {"url": "https://elsewhere.example.com/in", "headers": {"X-API-Key": ""}, "signing_secret": ""}
    response = staff.post(change_url(destination), destination_form(destination, config=config))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["config"]
    assert any(e.startswith("config.headers.X-API-Key: Re-enter this secret") for e in errors), errors
    destination.refresh_from_db()
    assert destination.config["url"] == "https://hooks.example.com/in"


def test_a_secret_typed_into_a_refused_form_is_not_echoed(staff, destination):
    config = {"url": "nope", "headers": {"X-API-Key": "brand-new-secret-value"}, "signing_secret": "another-new-one"}
    response = staff.post(change_url(destination), destination_form(destination, config=config))
    page = response.content.decode()
    assert response.status_code == 200
    assert "brand-new-secret-value" not in page and "another-new-one" not in page
    assert SECRET not in page and SIGNING not in page
    assert "type them again: headers.X-API-Key, signing_secret." in page
    assert editor(response)["data"]["url"] == "nope"  # the rest of what was typed is kept


def test_something_not_an_object_is_refused(staff, destination):
    response = staff.post(change_url(destination), destination_form(destination, config='["x"]'))
    assert response.status_code == 200 and "config" in response.context["adminform"].form.errors


def test_connection_from_another_workspace_is_refused(staff, destination):
    foreign = ConnectionFactory()  # another workspace
    response = staff.post(change_url(destination), destination_form(destination, connection=str(foreign.pk)))
    assert response.status_code == 200
    assert "connection" in response.context["adminform"].form.errors
    destination.refresh_from_db()
    assert destination.connection_id is None


def test_add_goes_through_the_service_once(staff, staff_user, service_calls):
    workspace = WorkspaceFactory()
    config = {"url": "https://hooks.example.com/new", "method": "POST", "headers": {"X-API-Key": "fresh"}}
    response = staff.post(
        ADD_URL + "?destination_type=webhook",
        {"workspace": str(workspace.pk), "name": "New hook", "connection": "", "config": json.dumps(config)},
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    assert service_calls == ["destination_create"]
    created = Destination.objects.get(name="New hook")
    assert created.workspace == workspace and created.created_by == staff_user
    assert created.destination_type == "webhook"
    assert created.secrets == {"headers": {"X-API-Key": "fresh"}}  # the blank signing secret counts as not set
    assert created.status == DestinationStatus.PENDING


def test_add_with_invalid_config_names_the_path(staff):
    workspace = WorkspaceFactory()
    response = staff.post(
        ADD_URL + "?destination_type=webhook",
        {"workspace": str(workspace.pk), "name": "Bad", "connection": "", "config": json.dumps({"url": ""})},
    )
    assert response.status_code == 200
    assert "config.url: This field is required." in response.context["adminform"].form.errors["config"]
    assert not Destination.objects.exists()


# --- status, remediation, labels --------------------------------------------------------------------


def test_change_page_shows_the_remediation_next_to_the_error(staff, destination):
    Destination.objects.filter(pk=destination.pk).update(
        status=DestinationStatus.ERROR, status_error="The endpoint answered HTTP 401."
    )
    TestRun.objects.create(
        workspace=destination.workspace,
        destination=destination,
        destination_type="webhook",
        success=False,
        finished_at=destination.created_at,
        steps=[
            {"name": "connectivity", "status": "passed", "message": "ok", "duration_ms": 1},
            {
                "name": "delivery",
                "status": "failed",
                "message": "The endpoint answered HTTP 401.",
                "duration_ms": 1,
                "error": {"code": "auth_invalid", "remediation": "Check the header values."},
            },
        ],
    )
    page = staff.get(change_url(destination)).content.decode()
    assert "The endpoint answered HTTP 401." in page
    assert (
        '<div class="remediation" id="remediation"><strong>What to do:</strong> Check the header values.</div>' in page
    )


def test_filters_show_type_labels_and_tell_namesake_workspaces_apart(staff, destination):
    first, second = WorkspaceFactory(name="Acme"), WorkspaceFactory(name="Acme")
    DestinationFactory(workspace=first, name="One", destination_type="webhook")
    DestinationFactory(workspace=second, name="Two", destination_type="webhook")
    response = staff.get(LIST_URL)
    filters = {
        spec.title: [c["display"] for c in spec.choices(response.context["cl"])]
        for spec in response.context["cl"].filter_specs
    }
    assert "Custom webhook" in filters["type"] and "webhook" not in filters["type"]
    assert (
        f"Acme ({str(first.pk)[:4]}…)" in filters["workspace"]
        and f"Acme ({str(second.pk)[:4]}…)" in filters["workspace"]
    )
    names = {d.name for d in staff.get(LIST_URL, {"workspace__id__exact": str(second.pk)}).context["cl"].result_list}
    assert names == {"Two"}
    assert f"Acme ({str(first.pk)[:4]}…)" in staff.get(ADD_URL, {"destination_type": "webhook"}).content.decode()


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
    from destinations.admin.destinations import DestinationAdmin

    pipeline = PipelineFactory(destination=destination, is_active=False)

    def activate_then_delete(self, request, obj):
        ReverseETLPipeline.objects.filter(pk=pipeline.pk).update(is_active=True)
        from destinations import services

        services.destination_delete(destination=obj, actor=request.user, via="admin")

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
    from destinations.admin.destinations import DestinationAdmin

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


def test_test_runs_filter_by_type_label(staff, destination):
    TestRun.objects.create(workspace=destination.workspace, destination=destination, destination_type="webhook")
    response = staff.get("/admin/destinations/testrun/")
    [type_filter] = [spec for spec in response.context["cl"].filter_specs if spec.title == "type"]
    # Every registered type, by label: the types used are not worth a scan of millions of runs.
    labels = [c["display"] for c in type_filter.choices(response.context["cl"])][1:]
    assert "Custom webhook" in labels and labels == sorted(labels, key=str.lower)
    assert len(labels) == len(connector_types())


def test_change_page_shows_when_the_credentials_expire(staff, destination):
    from datetime import UTC, datetime

    moment = datetime(2031, 3, 4, 5, 6, tzinfo=UTC)
    Destination.objects.filter(pk=destination.pk).update(credentials_expire_at=moment)
    page = staff.get(f"/admin/destinations/destination/{destination.pk}/change/").content.decode()
    assert "Credentials expire at" in page and "2031" in page
