"""Connect with OAuth through the API against each vendor's emulator: consent, callback, tokens saved, a
destination that tests green without anyone seeing a token; denial, bad state, the redirect allow-list,
missing scopes, revoked grants and concurrent refreshes."""

from __future__ import annotations

import logging
import threading
from html.parser import HTMLParser
from urllib.parse import parse_qs, quote_plus, urlsplit

import pytest
import requests
from django.core import signing
from django.db import close_old_connections, connection
from django.utils import timezone
from rest_framework.test import APIClient

from destinations.models import AuditEvent, Connection, Destination, OAuthState
from destinations.services.oauth import STATE_SALT
from destinations.services.oauth_tokens import connection_token_refresh
from tests.connectors.test_hosts import LOGIN_BYPASSES, LOGIN_HOSTS
from tests.emulators import google_ads, hubspot, linkedin_ads, salesforce
from tests.emulators.echo import EchoVendor
from tests.factories import ConnectionFactory, MembershipFactory
from tests.sse import read_stream
from workspaces.models import Membership
from workspaces.services import api_token_create

pytestmark = pytest.mark.django_db(transaction=True)

CALLBACK = "http://testserver/oauth/callback"
RETURN_TO = "https://app.example.com/integrations/done"
VENDORS = {
    # type: (emulator module, client id, client secret, the destination's own config)
    "salesforce": (salesforce, salesforce.CLIENT_ID, salesforce.CLIENT_SECRET, {"object": "Contact"}),
    "hubspot": (hubspot, hubspot.CLIENT_ID, hubspot.CLIENT_SECRET, {"object_type": "contacts"}),
    "google_ads": (
        google_ads,
        google_ads.CLIENT_ID,
        google_ads.CLIENT_SECRET,
        {"customer_id": google_ads.CUSTOMER_ID, "user_list_id": google_ads.USER_LIST_ID},
    ),
    "linkedin_ads": (
        linkedin_ads,
        linkedin_ads.CLIENT_ID,
        linkedin_ads.CLIENT_SECRET,
        {"ad_account_id": linkedin_ads.AD_ACCOUNT_ID, "segment_id": linkedin_ads.SEGMENT_ID},
    ),
}


class _Form(HTMLParser):
    """The consent page's hidden inputs (what the browser would post back with the button)."""

    def __init__(self):
        super().__init__()
        self.fields = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "input" and attrs.get("type") == "hidden":
            self.fields[attrs["name"]] = attrs.get("value", "")


def consent(authorization_url: str, decision: str = "allow") -> str:
    """Open the vendor's consent page and press Allow or Deny; the Location the vendor redirects to."""
    page = requests.get(authorization_url, timeout=5)
    assert page.status_code == 200, page.text
    form = _Form()
    form.feed(page.text)
    answer = requests.post(authorization_url.split("?")[0], data={**form.fields, "decision": decision}, timeout=5,
                           allow_redirects=False)  # fmt: skip
    assert answer.status_code == 302, answer.text
    return answer.headers["Location"]


def land(client, location: str):
    """The vendor's redirect arriving at our callback (the browser following it)."""
    assert location.startswith(CALLBACK), location
    return client.get("/oauth/callback?" + urlsplit(location).query)


def returned(response) -> dict:
    assert response.status_code == 302, response.content
    location = response["Location"]
    assert location.startswith(RETURN_TO)
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


@pytest.fixture
def oauth_settings(settings):
    settings.OAUTH_REDIRECT_ALLOWED = ["https://app.example.com"]
    settings.OAUTH_APPS = {
        t: {"client_id": cid, "client_secret": secret} for t, (_m, cid, secret, _c) in VENDORS.items()
    }
    return settings


@pytest.fixture(params=sorted(VENDORS))
def vendor(request, oauth_settings):
    module = VENDORS[request.param][0]
    emulator = module.EMULATOR().start()
    emulator.redirect_uris.add(CALLBACK)
    oauth_settings.CONNECTOR_BASE_URLS = {request.param: emulator.url}
    yield request.param, emulator
    emulator.stop()


@pytest.fixture
def sf(oauth_settings):
    emulator = salesforce.EMULATOR().start()
    emulator.redirect_uris.add(CALLBACK)
    oauth_settings.CONNECTOR_BASE_URLS = {"salesforce": emulator.url}
    yield emulator
    emulator.stop()


def authorize(api, destination_type="salesforce", **body):
    body = {"redirect_uri": RETURN_TO, **body}
    if "connection_id" not in body:
        body.setdefault("name", f"{destination_type} via OAuth")
    return api.post(api.path(f"connections/oauth/{destination_type}/authorize"), body, format="json")


def connect(api, destination_type="salesforce", **body) -> dict:
    started = authorize(api, destination_type, **body)
    assert started.status_code == 200, started.json()
    return returned(land(api.client, consent(started.json()["authorization_url"])))


def member(workspace, role: str) -> APIClient:
    """A client of another member of `workspace`, with this role."""
    membership = MembershipFactory(workspace=workspace, role=role)
    _token, plaintext = api_token_create(workspace=workspace, user=membership.user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}", HTTP_X_WORKSPACE_ID=str(workspace.pk))
    client.user = membership.user
    client.path = lambda suffix="": f"/api/v1/workspaces/{workspace.pk}/{suffix}".rstrip("/")
    return client


def secrets_of(connection: Connection) -> list[str]:
    return [v for k, v in connection.credentials.items() if k in ("access_token", "refresh_token", "client_secret")]


def test_whole_flow_creates_a_connection_whose_destination_tests_green(api, vendor):
    destination_type, emulator = vendor
    started = authorize(api, destination_type)
    assert started.status_code == 200, started.json()
    answer = started.json()
    query = parse_qs(urlsplit(answer["authorization_url"]).query)
    assert answer["authorization_url"].startswith(emulator.url)
    assert query["redirect_uri"] == [CALLBACK] and query["client_id"] == [VENDORS[destination_type][1]]
    assert ("code_challenge" in query) is answer["pkce"] is (destination_type != "linkedin_ads")
    assert answer["callback_uri"] == CALLBACK

    back = returned(land(api.client, consent(answer["authorization_url"])))
    assert set(back) == {"connection_id"}
    stored = Connection.objects.get(pk=back["connection_id"])
    assert stored.workspace == api.workspace and stored.authorized_by == api.user and stored.authorized_at
    assert stored.credentials["refresh_token"]

    shown = api.get(api.path(f"connections/{stored.pk}")).json()
    assert shown["authorized_by"] == str(api.user.pk) and shown["authorized_at"]
    assert shown["scopes"] == stored.scopes and stored.scopes
    for secret in secrets_of(stored):
        assert secret not in str(shown)
    if destination_type in ("hubspot", "google_ads", "linkedin_ads"):
        assert shown["expires_at"]  # expires_in was answered
    if destination_type == "salesforce":
        assert stored.credentials["instance_url"] == emulator.url
        assert shown["authorized_account"]["id"].endswith(f"/id/{salesforce.ORG_ID}/{salesforce.USER_ID}")
    if destination_type == "hubspot":
        assert shown["authorized_account"] == {"hub_id": hubspot.PORTAL_ID, "user_id": hubspot.USER_ID}
    if destination_type == "linkedin_ads":
        assert shown["refresh_token_expires_at"]  # refresh_token_expires_in: 365 days

    created = api.post(
        api.path("destinations"),
        {
            "name": "d",
            "destination_type": destination_type,
            "connection_id": str(stored.pk),
            "config": VENDORS[destination_type][3],
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    events = read_stream(api.post(api.path(f"destinations/{created.json()['id']}/test")))
    steps = [e.data for e in events if e.type == "step"]
    assert all(s["status"] == "passed" for s in steps), steps
    assert events[-1].data["destination"]["status"] == "connected"
    for secret in secrets_of(Connection.objects.get(pk=stored.pk)):
        assert secret not in str([e.data for e in events])


@pytest.mark.parametrize("destination_type", ["salesforce", "google_ads", "linkedin_ads"])
def test_denied_consent_comes_back_as_access_denied_and_saves_nothing(api, oauth_settings, destination_type):
    module = VENDORS[destination_type][0]
    with module.EMULATOR() as emulator:
        emulator.redirect_uris.add(CALLBACK)
        oauth_settings.CONNECTOR_BASE_URLS = {destination_type: emulator.url}
        started = authorize(api, destination_type).json()
        back = returned(land(api.client, consent(started["authorization_url"], "deny")))
    assert back == {"error": "access_denied"}
    assert not Connection.objects.exists()


def test_hubspot_deny_sends_nobody_back(api, oauth_settings):
    with hubspot.EMULATOR() as emulator:
        emulator.redirect_uris.add(CALLBACK)
        oauth_settings.CONNECTOR_BASE_URLS = {"hubspot": emulator.url}
        url = authorize(api, "hubspot").json()["authorization_url"]
        page = requests.get(url, timeout=5)
        form = _Form()
        form.feed(page.text)
        answer = requests.post(url.split("?")[0], data={**form.fields, "decision": "deny"}, allow_redirects=False)
    assert answer.status_code == 200 and "declined" in answer.text


def test_a_replayed_state_is_refused(api, sf):
    location = consent(authorize(api).json()["authorization_url"])
    assert "connection_id" in returned(land(api.client, location))
    assert returned(land(api.client, location)) == {"error": "state_replayed"}
    assert Connection.objects.count() == 1


def test_a_forged_state_gets_no_redirect(api, sf):
    location = consent(authorize(api).json()["authorization_url"])
    state = parse_qs(urlsplit(location).query)["state"][0]
    forged = signing.dumps(signing.loads(state, salt=STATE_SALT), salt="another-salt")
    for bad in (forged, state[:-2] + "xx", ""):
        response = api.client.get("/oauth/callback", {"state": bad, "code": "abc"})
        assert response.status_code == 400 and b"invalid_state" in response.content
    assert not Connection.objects.exists()


def test_a_stale_state_is_refused(api, sf):
    location = consent(authorize(api).json()["authorization_url"])
    OAuthState.objects.update(expires_at=timezone.now())
    assert returned(land(api.client, location)) == {"error": "state_expired"}
    assert not Connection.objects.exists()


def test_state_expires_after_ten_minutes_by_its_signature_too(api, sf, monkeypatch):
    """A state signed 601 s ago is stale even if its row were not."""
    import time

    eleven_minutes_ago = signing.b62_encode(int(time.time()) - 601)
    monkeypatch.setattr(signing.TimestampSigner, "timestamp", lambda self: eleven_minutes_ago)
    location = consent(authorize(api).json()["authorization_url"])
    monkeypatch.undo()
    assert returned(land(api.client, location)) == {"error": "state_expired"}


def test_redirect_uri_must_be_on_the_allow_list(api, sf):
    for uri in ("https://evil.example.net/cb", "javascript:alert(1)", "https://app.example.com.evil.net/x"):
        response = authorize(api, redirect_uri=uri)
        assert response.status_code == 400 and "redirect_uri" in response.json()["errors"], uri
    assert not OAuthState.objects.exists()


def test_viewers_cannot_start_an_authorisation(viewer_api, sf):
    assert authorize(viewer_api).status_code == 403


def test_salesforce_login_url_must_be_a_salesforce_login_host(api, sf):
    for bad in ("https://login.salesforce.com.evil.net", "http://test.salesforce.com", "https://127.0.0.1:9"):
        response = authorize(api, login_url=bad)
        assert response.status_code == 400 and "login_url" in response.json()["errors"], bad
    sandbox = authorize(api, login_url="https://test.salesforce.com")
    assert sandbox.status_code == 200 and sandbox.json()["authorization_url"].startswith(sf.url)


def test_fewer_scopes_than_the_type_needs_are_named_and_nothing_is_saved(api, oauth_settings):
    with hubspot.EMULATOR() as emulator:
        emulator.redirect_uris.add(CALLBACK)
        emulator.grant_scopes = ["oauth", "crm.objects.contacts.read"]
        oauth_settings.CONNECTOR_BASE_URLS = {"hubspot": emulator.url}
        back = connect(api, "hubspot")
    assert back == {"error": "missing_scopes", "missing_scopes": "crm.objects.contacts.write"}
    assert not Connection.objects.exists()


@pytest.mark.parametrize(
    ("destination_type", "granted", "missing"),
    [
        ("google_ads", ["openid"], "https://www.googleapis.com/auth/datamanager"),
        ("linkedin_ads", ["r_ads"], "rw_dmp_segments"),
        ("salesforce", ["id", "api"], "refresh_token"),
    ],
)
def test_missing_scopes_per_vendor(api, oauth_settings, destination_type, granted, missing):
    with VENDORS[destination_type][0].EMULATOR() as emulator:
        emulator.redirect_uris.add(CALLBACK)
        emulator.grant_scopes = granted
        oauth_settings.CONNECTOR_BASE_URLS = {destination_type: emulator.url}
        assert connect(api, destination_type) == {"error": "missing_scopes", "missing_scopes": missing}


def _destinations(api, conn, n=2):
    made = []
    for i in range(n):
        destination = Destination(
            workspace=api.workspace, name=f"sf {i}", destination_type="salesforce", connection=conn, status="connected"
        )
        destination.store_config({"object": "Contact"})
        destination.save()
        made.append(destination)
    return made


def test_a_revoked_grant_puts_every_destination_in_error_and_reauthorising_restores_them(api, sf):
    conn = Connection.objects.get(pk=connect(api)["connection_id"])
    first, second = _destinations(api, conn)
    before = {d.pk: (d.name, d.config, d.updated_at) for d in (first, second)}
    sf.revoke(conn.credentials["refresh_token"])

    refused = api.post(api.path(f"connections/{conn.pk}/oauth/refresh"))
    assert refused.status_code == 502 and refused.json()["error"]["code"] == "token_expired"
    assert "re-authorise" in refused.json()["error"]["remediation"].lower()
    for destination in Destination.objects.filter(connection=conn):
        assert destination.status == "error" and destination.status_error.startswith("token_expired")
        assert "re-authorise" in destination.status_error
    assert api.get(api.path(f"connections/{conn.pk}")).json()["last_refresh_error"].startswith("invalid_grant")

    back = connect(api, connection_id=str(conn.pk))
    assert back == {"connection_id": str(conn.pk)}
    assert Connection.objects.count() == 1
    conn.refresh_from_db()
    assert conn.last_refresh_error == "" and conn.credentials["refresh_token"] in sf.refresh_tokens
    for destination in Destination.objects.filter(connection=conn):
        assert destination.status == "pending" and destination.status_error == ""
        assert (destination.name, destination.config, destination.updated_at) == before[destination.pk]


def test_a_test_run_refreshes_first_and_a_revoked_grant_shows_as_token_expired(api, sf):
    conn = Connection.objects.get(pk=connect(api)["connection_id"])
    tested, other = _destinations(api, conn)
    sf.revoke(conn.credentials["refresh_token"])
    events = read_stream(api.post(api.path(f"destinations/{tested.pk}/test")))
    assert events[-1].data["success"] is False
    other.refresh_from_db()
    assert other.status == "error" and other.status_error.startswith("token_expired")


def test_refresh_saves_a_rotated_token(api, sf):
    conn = Connection.objects.get(pk=connect(api)["connection_id"])
    sf.rotate_refresh_tokens = True
    old = conn.credentials["refresh_token"]
    shown = api.post(api.path(f"connections/{conn.pk}/oauth/refresh")).json()
    assert shown["last_refreshed_at"] and shown["last_refresh_error"] == ""
    conn.refresh_from_db()
    assert conn.credentials["refresh_token"] != old and conn.credentials["refresh_token"] in sf.refresh_tokens
    assert conn.token_version == 1


def test_two_workers_refreshing_at_once_keep_the_newer_token(api, sf):
    """Salesforce rotates and revokes the old token: the second worker must use the first one's, not spend the
    revoked one and take the vendor's invalid_grant for a revoked grant."""
    conn = Connection.objects.get(pk=connect(api)["connection_id"])
    destination, _ = _destinations(api, conn)
    sf.rotate_refresh_tokens = True
    sf.slow("token", 0.3)
    barrier, errors = threading.Barrier(2), []

    def worker():
        close_old_connections()
        try:
            barrier.wait()
            connection_token_refresh(connection=Connection.objects.get(pk=conn.pk))
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert errors == []
    conn.refresh_from_db()
    assert conn.credentials["refresh_token"] in sf.refresh_tokens  # the stored one is the live one
    assert len(sf.calls_to("token")) == 2  # the code exchange and one refresh: the waiter used its result
    destination.refresh_from_db()
    assert destination.status == "connected"


def test_a_workspace_may_bring_its_own_app(api, sf, oauth_settings):
    oauth_settings.OAUTH_APPS = {}
    assert authorize(api).status_code == 400
    put = api.put(
        api.path("oauth-apps/salesforce"),
        {"client_id": salesforce.CLIENT_ID, "client_secret": salesforce.CLIENT_SECRET},
        format="json",
    )
    assert put.status_code == 200 and salesforce.CLIENT_SECRET not in str(put.json())
    assert "connection_id" in connect(api)


def test_authorize_and_refresh_count_against_the_vendor_call_limit(api, sf, settings):
    settings.API_RATE_LIMITS = {**settings.API_RATE_LIMITS, "vendor_calls_per_token": "2/min"}
    conn = connect(api)["connection_id"]  # one authorize
    statuses = [api.post(api.path(f"connections/{conn}/oauth/refresh")).status_code for _ in range(2)]
    assert statuses == [200, 429]


def test_a_token_endpoint_refusing_the_redirect_uri_is_passed_on(api, sf):
    location = consent(authorize(api).json()["authorization_url"])
    OAuthState.objects.update(callback_uri="http://testserver/elsewhere")  # what the token request will repeat
    assert returned(land(api.client, location)) == {"error": "redirect_uri_mismatch"}
    assert not Connection.objects.exists()


def test_an_unreachable_token_endpoint_is_vendor_unreachable(api, sf):
    location = consent(authorize(api).json()["authorization_url"])
    sf.stop()
    assert returned(land(api.client, location)) == {"error": "vendor_unreachable"}
    assert not Connection.objects.exists()


def test_connecting_and_reauthorising_enter_the_audit_history_by_name_only(api, sf):
    conn = Connection.objects.get(pk=connect(api)["connection_id"])
    connect(api, connection_id=str(conn.pk))
    events = list(AuditEvent.objects.filter(target_id=conn.pk).order_by("created_at", "id"))
    assert [(e.action, e.via, e.actor_id) for e in events] == [
        ("create", "api", api.user.pk),
        ("reauthorize", "api", api.user.pk),
    ]
    assert "credentials.refresh_token" in events[1].secret_fields
    conn.refresh_from_db()
    stored = str([(e.changed_fields, e.secret_fields, e.details) for e in events])
    assert conn.credentials["refresh_token"] not in stored


@pytest.mark.parametrize("login_url", LOGIN_BYPASSES)
def test_a_login_url_spelled_to_reach_another_host_starts_nothing(api, oauth_settings, login_url):
    """No rebasing here: the login host is what a real deployment would send the app's client secret to."""
    response = authorize(api, login_url=login_url)
    assert response.status_code == 400, response.json()
    assert "login_url" in response.json()["errors"]
    assert not OAuthState.objects.exists()


def test_the_salesforce_login_hosts_start_an_authorisation_there(api, oauth_settings):
    for login_url, host in LOGIN_HOSTS.items():
        response = authorize(api, login_url=login_url)
        assert response.status_code == 200, response.json()
        assert response.json()["authorization_url"].startswith(f"https://{host}/services/oauth2/authorize?")


class EchoInErrorCode(EchoVendor):
    """A token endpoint whose `error` itself (not only its description) quotes the request back."""

    def answer(self, echo: str):
        return self.json({"error": echo, "error_description": echo}, self.status)


@pytest.fixture(params=["json", "oauth", "in_error_code"])
def echoing_token_endpoint(request, oauth_settings):
    """Salesforce's login host rebased to a vendor whose every answer is an error quoting the request."""
    vendor = EchoInErrorCode() if request.param == "in_error_code" else EchoVendor(mode=request.param)
    vendor.start()
    oauth_settings.CONNECTOR_BASE_URLS = {"salesforce": vendor.url}
    yield vendor
    vendor.stop()


def shown(secrets: list[str], *texts: str) -> list[str]:
    """The secrets found, raw or form-encoded (as the echo quotes the request body), in any of `texts`."""
    return [s for s in secrets if any(form in text for form in (s, quote_plus(s)) for text in texts)]


def test_a_code_exchange_whose_error_echoes_the_request_logs_no_secret(api, echoing_token_endpoint, caplog):
    caplog.set_level(logging.DEBUG)
    started = authorize(api).json()
    state = parse_qs(urlsplit(started["authorization_url"]).query)["state"][0]
    verifier = OAuthState.objects.get().secrets["code_verifier"]
    code = "aPrx.authorization-code-from-the-vendor-0001"
    response = api.client.get("/oauth/callback", {"state": state, "code": code})

    assert returned(response) == {"error": "token_exchange_failed"}
    secrets = [code, verifier, salesforce.CLIENT_SECRET]
    echoed = echoing_token_endpoint.calls[0].body.decode()
    assert shown(secrets, echoed) == secrets  # the endpoint was sent each one, and quotes them back
    assert "code exchange refused" in caplog.text
    assert shown(secrets, caplog.text, response["Location"]) == []


def test_a_refresh_whose_error_echoes_the_request_shows_no_secret(api, echoing_token_endpoint):
    refresh_token = "5Aep861-the-refresh-token-of-this-connection"
    connection = ConnectionFactory(
        workspace=api.workspace,
        destination_type="salesforce",
        authorized_at=timezone.now(),
        credentials={
            "instance_url": echoing_token_endpoint.url,
            "login_url": echoing_token_endpoint.url,
            "client_id": salesforce.CLIENT_ID,
            "client_secret": salesforce.CLIENT_SECRET,
            "refresh_token": refresh_token,
        },
    )
    response = api.post(api.path(f"connections/{connection.pk}/oauth/refresh"))

    assert response.status_code == 502
    secrets = [refresh_token, salesforce.CLIENT_SECRET]
    assert shown(secrets, echoing_token_endpoint.calls[0].body.decode()) == secrets
    connection.refresh_from_db()
    assert connection.last_refresh_error.startswith(("invalid_request", "invalid_response"))
    read_by_viewer = member(api.workspace, "viewer").get(api.path(f"connections/{connection.pk}"))
    assert read_by_viewer.status_code == 200
    assert (
        shown(secrets, response.content.decode(), connection.last_refresh_error, read_by_viewer.content.decode()) == []
    )


@pytest.mark.parametrize("change", ["demoted to viewer", "removed", "deactivated"])
def test_a_starter_who_lost_the_right_to_connect_cannot_finish(api, sf, change):
    editor = member(api.workspace, "editor")
    started = authorize(editor)
    assert started.status_code == 200
    location = consent(started.json()["authorization_url"])
    membership = Membership.objects.get(workspace=api.workspace, user=editor.user)
    if change == "demoted to viewer":
        Membership.objects.filter(pk=membership.pk).update(role="viewer")
    elif change == "removed":
        membership.delete()
    else:
        type(editor.user).objects.filter(pk=editor.user.pk).update(is_active=False)

    assert returned(land(api.client, location)) == {"error": "permission_denied"}
    assert not Connection.objects.exists()
    assert not sf.calls_to("token")  # the code was not even exchanged


def test_a_demoted_starter_cannot_reauthorise_either(api, sf):
    connection = Connection.objects.get(pk=connect(api)["connection_id"])
    started = authorize(api, connection_id=str(connection.pk))
    location = consent(started.json()["authorization_url"])
    Membership.objects.filter(workspace=api.workspace, user=api.user).update(role="viewer")

    assert returned(land(api.client, location)) == {"error": "permission_denied", "connection_id": str(connection.pk)}
    assert Connection.objects.get(pk=connection.pk).token_version == connection.token_version


def test_only_a_workspace_admin_may_replace_the_oauth_app_and_it_is_audited_and_readable(api, sf, oauth_settings):
    app = {"client_id": salesforce.CLIENT_ID, "client_secret": salesforce.CLIENT_SECRET}
    editor = member(api.workspace, "editor")
    refused = editor.put(editor.path("oauth-apps/salesforce"), app, format="json")
    assert refused.status_code == 403 and "admin" in refused.json()["detail"]
    assert editor.get(editor.path("oauth-apps/salesforce")).json() == {
        "destination_type": "salesforce",
        "source": "deployment",
        "client_id": salesforce.CLIENT_ID,
    }

    assert api.put(api.path("oauth-apps/salesforce"), app, format="json").status_code == 200
    replaced = api.put(api.path("oauth-apps/salesforce"), {**app, "client_secret": "a-new-secret-0002"}, format="json")
    assert replaced.status_code == 200
    shown = editor.get(editor.path("oauth-apps/salesforce"))
    assert shown.status_code == 200
    body = shown.json()
    assert body["source"] == "workspace" and body["client_id"] == salesforce.CLIENT_ID
    assert body["updated_by"] == str(api.user.pk) and body["updated_by_label"] == api.user.get_username()
    assert body["created_at"] <= body["updated_at"]
    events = AuditEvent.objects.filter(workspace=api.workspace, target_type="oauth_app").order_by("created_at", "id")
    assert [(e.action, e.actor_id, e.changed_fields, e.secret_fields) for e in events] == [
        ("create", api.user.pk, ["client_id", "client_secret"], ["client_secret"]),
        ("update", api.user.pk, ["client_secret"], ["client_secret"]),
    ]
    for text in (str(replaced.json()), body, [(e.target_name, e.details) for e in events]):
        assert salesforce.CLIENT_SECRET not in str(text) and "a-new-secret-0002" not in str(text)
