"""A green test never hides a privilege it could not prove: the `done` event, the stored run, the admin and
the CLI all name it, with why and where to grant it.

HubSpot Service Keys are the case: HubSpot documents no way to read a Service Key's scopes, so the write scope
passes as unproven (a private-app token's scopes are read, and a missing one fails instead).
"""

import html
import io
import json

import pytest
from django.core.management import call_command
from django.urls import reverse

from destinations.models import TestRun
from tests.emulators.hubspot import SERVICE_KEY, VALID_TOKEN, HubSpotEmulator
from tests.factories import DestinationFactory
from tests.sse import read_stream

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def hubspot(settings):
    emulator = HubSpotEmulator()
    emulator.start()
    settings.CONNECTOR_BASE_URLS = {"hubspot": emulator.url}
    yield emulator
    emulator.stop()


def create(api, token) -> dict:
    config = {"access_token": token, "object_type": "contacts"}
    body = {"name": "CRM", "destination_type": "hubspot", "config": config}
    created = api.post(api.path("destinations"), body, format="json")
    assert created.status_code == 201, created.json()
    return created.json()


def test_done_lists_each_unproven_requirement_of_a_green_run(api, hubspot):
    destination = create(api, SERVICE_KEY)
    events = read_stream(api.post(api.path(f"destinations/{destination['id']}/test")))
    done = events[-1].data
    assert done["success"] is True
    (unproven,) = done["unproven"]
    assert unproven["step"] == "object"
    assert "crm.objects" in unproven["privilege"]
    assert "Service Key" in unproven["reason"]
    assert SERVICE_KEY not in json.dumps(done)
    assert TestRun.objects.get(pk=done["test_run_id"]).unproven == done["unproven"]


def test_a_run_that_proved_everything_lists_nothing(api, hubspot):
    destination = create(api, VALID_TOKEN)
    done = read_stream(api.post(api.path(f"destinations/{destination['id']}/test")))[-1].data
    assert done["success"] is True and done["unproven"] == []


def test_the_admin_shows_a_runs_unproven_requirements(api, hubspot, staff):
    destination = create(api, SERVICE_KEY)
    done = read_stream(api.post(api.path(f"destinations/{destination['id']}/test")))[-1].data
    page = staff.get(reverse("admin:destinations_testrun_change", args=[done["test_run_id"]]))
    assert page.status_code == 200
    text = page.content.decode()
    assert "Not proven before the first sync" in text
    assert html.escape(done["unproven"][0]["privilege"]) in text


def test_the_cli_names_unproven_requirements_and_still_exits_green(hubspot):
    destination = DestinationFactory(
        destination_type="hubspot",
        name="CRM",
        config={"object_type": "contacts"},
        secrets={"access_token": SERVICE_KEY},
    )
    out = io.StringIO()
    call_command("test_destinations", "--all", stdout=out, stderr=io.StringIO())
    text = out.getvalue()
    assert "first sync needs that no test can prove" in text
    assert str(destination.pk) in text and "crm.objects" in text

    lines = io.StringIO()
    call_command("test_destinations", "--all", "--json", stdout=lines, stderr=io.StringIO())
    (result,) = [json.loads(line) for line in lines.getvalue().splitlines()]
    assert result["success"] is True
    assert [u["step"] for u in result["unproven"]] == ["object"]
