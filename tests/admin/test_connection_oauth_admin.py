"""Connect with Salesforce and Re-authorise in the admin (Django test client + the Salesforce emulator)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from destinations.models import Connection, Destination
from tests.api.test_oauth import consent
from tests.emulators import salesforce
from tests.factories import ConnectionFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db(transaction=True)
CALLBACK = "http://testserver/oauth/callback"


@pytest.fixture
def sf(settings):
    with salesforce.EMULATOR() as emulator:
        emulator.redirect_uris.add(CALLBACK)
        settings.CONNECTOR_BASE_URLS = {"salesforce": emulator.url}
        settings.OAUTH_APPS = {
            "salesforce": {"client_id": salesforce.CLIENT_ID, "client_secret": salesforce.CLIENT_SECRET}
        }
        yield emulator


def back_through_callback(staff, location):
    assert location.startswith(CALLBACK), location
    landing = staff.get("/oauth/callback?" + urlsplit(location).query)
    assert landing.status_code == 302 and "/admin/destinations/connection/oauth/return/" in landing["Location"]
    return staff.get(landing["Location"], follow=True)


def test_connect_with_salesforce_from_the_add_page(staff, staff_user, sf):
    workspace = WorkspaceFactory(name="Acme")
    add = staff.get("/admin/destinations/connection/add/?destination_type=salesforce")
    assert b"Connect with Salesforce" in add.content and b"Connect with HubSpot" not in add.content
    assert b"Connect with" not in staff.get("/admin/destinations/connection/add/?destination_type=webhook").content
    form = staff.get("/admin/destinations/connection/oauth/salesforce/connect/")
    assert form.status_code == 200 and b"login_url" in form.content
    started = staff.post(
        "/admin/destinations/connection/oauth/salesforce/connect/", {"workspace": workspace.pk, "name": "Sales org"}
    )
    assert started.status_code == 302 and started["Location"].startswith(sf.url)

    page = back_through_callback(staff, consent(started["Location"]))
    connection = Connection.objects.get()
    assert page.redirect_chain[-1][0] == f"/admin/destinations/connection/{connection.pk}/change/"
    text = page.content.decode()
    assert "Connected Sales org" in text and "Re-authorise" in text
    assert connection.authorized_by == staff_user and "api refresh_token" in text
    assert connection.credentials["refresh_token"] not in text and salesforce.CLIENT_SECRET not in text


def test_reauthorise_restores_destinations_and_lists_them(staff, staff_user, sf):
    workspace = WorkspaceFactory()
    started = staff.post(
        "/admin/destinations/connection/oauth/salesforce/connect/", {"workspace": workspace.pk, "name": "Org"}
    )
    back_through_callback(staff, consent(started["Location"]))
    connection = Connection.objects.get()
    destination = Destination(
        workspace=workspace,
        name="Contacts",
        destination_type="salesforce",
        connection=connection,
        status="error",
        status_error="token_expired: revoked",
    )
    destination.store_config({"object": "Contact"})
    destination.save()
    change = staff.get(f"/admin/destinations/connection/{connection.pk}/change/")
    assert b"Contacts" in change.content and b'id="used-by"' in change.content

    again = staff.post(f"/admin/destinations/connection/{connection.pk}/oauth/reauthorise/")
    assert again.status_code == 302
    page = back_through_callback(staff, consent(again["Location"]))
    assert page.redirect_chain[-1][0] == f"/admin/destinations/connection/{connection.pk}/change/"
    destination.refresh_from_db()
    assert destination.status == "pending" and destination.status_error == ""
    assert Connection.objects.count() == 1


def test_denial_returns_to_the_add_page_with_the_reason(staff, sf):
    workspace = WorkspaceFactory()
    started = staff.post(
        "/admin/destinations/connection/oauth/salesforce/connect/", {"workspace": workspace.pk, "name": "Org"}
    )
    page = back_through_callback(staff, consent(started["Location"], "deny"))
    assert page.redirect_chain[-1][0] == "/admin/destinations/connection/add/"
    assert b"declined" in page.content
    assert not Connection.objects.exists()


def test_the_state_is_bound_to_the_user_who_started(staff, api, sf, settings):
    """An API user's authorisation finished in a browser signed in as someone else is refused."""
    settings.OAUTH_REDIRECT_ALLOWED = ["https://app.example.com"]
    started = api.post(
        api.path("connections/oauth/salesforce/authorize"),
        {"name": "x", "redirect_uri": "https://app.example.com/done"},
        format="json",
    )
    location = consent(started.json()["authorization_url"])
    landing = staff.get("/oauth/callback?" + urlsplit(location).query)
    assert landing.status_code == 400 and b"invalid_state" in landing.content
    assert not Connection.objects.exists()


def test_a_staff_user_who_lost_the_permission_cannot_finish(staff, staff_user, sf):
    started = staff.post(
        "/admin/destinations/connection/oauth/salesforce/connect/", {"workspace": WorkspaceFactory().pk, "name": "Org"}
    )
    location = consent(started["Location"])
    staff_user.is_staff = False
    staff_user.save()
    landing = staff.get("/oauth/callback?" + urlsplit(location).query)
    assert landing.status_code == 302 and "error=permission_denied" in landing["Location"]
    assert not Connection.objects.exists() and not sf.calls_to("token")


@pytest.mark.parametrize("connection_id", ["not-a-uuid", "00000000-0000-0000-0000-000000000000", "1' OR '1'='1"])
def test_the_landing_page_answers_404_for_an_id_that_names_no_connection(staff, connection_id):
    response = staff.get("/admin/destinations/connection/oauth/return/", {"connection_id": connection_id})
    assert response.status_code == 404


def test_the_landing_page_shows_a_connection_only_to_who_may_view_it(django_user_model):
    connection = ConnectionFactory(name="Finance org of another team")
    clerk = django_user_model.objects.create_user(username="clerk", password="pw-clerk-1", is_staff=True)
    client = Client()
    client.force_login(clerk)
    landing = "/admin/destinations/connection/oauth/return/"
    response = client.get(landing, {"connection_id": str(connection.pk)})
    assert response.status_code == 403 and b"Finance org" not in response.content

    clerk.user_permissions.add(Permission.objects.get(codename="view_connection"))
    response = client.get(landing, {"connection_id": str(connection.pk)}, follow=True)
    assert response.redirect_chain[0][0] == f"/admin/destinations/connection/{connection.pk}/change/"
    assert b"Connected Finance org of another team" in response.content


@pytest.mark.parametrize(
    ("destination_type", "origins", "login_field"),
    [
        (
            "salesforce",
            ["https://login.salesforce.com", "https://test.salesforce.com", "https://*.my.salesforce.com"],
            True,
        ),
        ("hubspot", ["https://app.hubspot.com"], False),
        ("google_ads", ["https://accounts.google.com"], False),
    ],
)
def test_the_connect_page_lets_its_form_reach_the_vendors_login_pages_only(
    staff, destination_type, origins, login_field
):
    page = staff.get(f"/admin/destinations/connection/oauth/{destination_type}/connect/")
    assert page.status_code == 200
    form_action = next(
        part.split()[1:] for part in page["Content-Security-Policy"].split(";") if part.split()[:1] == ["form-action"]
    )
    assert set(origins) <= set(form_action)
    assert not {o for o in form_action if o.startswith("https://") and o not in origins}
    assert (b'name="login_url"' in page.content) is login_field
