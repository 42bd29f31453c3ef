"""One client address for every limit and log: the peer, unless it is a trusted proxy (TRUSTED_PROXIES).

A client-written X-Forwarded-For escapes no limit; behind a trusted proxy, the hop that proxy appended is
the client, for the bad-token limit, the vendor-call limit, the admin lockout and the access log alike.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from django.db import connection
from django.test import RequestFactory
from rest_framework.test import APIClient

from tests.factories import DestinationFactory
from tests.topology import Web, database_url, process_env
from workspaces.client_address import client_address

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent.parent
PEER = "127.0.0.1"  # the test client's REMOTE_ADDR


def limits(settings, **rates):
    settings.API_RATE_LIMITS = {**settings.API_RATE_LIMITS, **rates}


def bad_token_statuses(api, forwarded_for: list[str]) -> list[int]:
    """One request with an unknown token per X-Forwarded-For value, as a client would spray them."""
    attacker = APIClient()
    statuses = []
    for n, value in enumerate(forwarded_for):
        attacker.credentials(HTTP_AUTHORIZATION=f"Bearer zdt_guess{n}", HTTP_X_FORWARDED_FOR=value)
        statuses.append(attacker.get(api.path("destinations")).status_code)
    return statuses


def refresh_statuses(api, forwarded_for: list[str]) -> list[int]:
    """A fields refresh (a vendor call) per X-Forwarded-For value, with one valid token."""
    path = api.path(f"destinations/{DestinationFactory(workspace=api.workspace).pk}/fields")
    return [api.get(path, {"refresh": "true"}, HTTP_X_FORWARDED_FOR=value).status_code for value in forwarded_for]


def rotating(count: int, suffix: str = "") -> list[str]:
    return [f"198.51.100.{n + 1}{suffix}" for n in range(count)]


def test_without_trusted_proxies_a_rotating_forwarded_for_does_not_escape_the_bad_token_limit(api, settings):
    limits(settings, auth_failures="3/min")
    assert bad_token_statuses(api, rotating(5)) == [401, 401, 401, 429, 429]


def test_without_trusted_proxies_a_rotating_forwarded_for_does_not_escape_the_vendor_call_limit(api, settings):
    limits(settings, vendor_calls_per_token=None, vendor_calls_per_address="2/min")
    assert refresh_statuses(api, rotating(4)) == [200, 200, 429, 429]


def test_behind_a_trusted_proxy_the_hop_it_appended_is_the_client(api, settings):
    settings.TRUSTED_PROXIES = [PEER]
    limits(settings, auth_failures="3/min")
    # The client writes any first hop it likes; the proxy appends the address it saw (203.0.113.5).
    assert bad_token_statuses(api, rotating(5, ", 203.0.113.5")) == [401, 401, 401, 429, 429]
    assert bad_token_statuses(api, ["203.0.113.6"]) == [401]  # another client behind the same proxy


def test_behind_a_trusted_proxy_vendor_calls_are_counted_per_client(api, settings):
    settings.TRUSTED_PROXIES = ["127.0.0.0/8"]
    limits(settings, vendor_calls_per_token=None, vendor_calls_per_address="2/min")
    assert refresh_statuses(api, rotating(3, ", 203.0.113.5")) == [200, 200, 429]
    assert refresh_statuses(api, ["203.0.113.6"]) == [200]


def test_the_admin_lockout_uses_the_same_client_address(client, django_user_model, settings):
    settings.AXES_FAILURE_LIMIT = 2
    django_user_model.objects.create_superuser("root", "root@example.com", "right-password-1")

    def login(password: str, forwarded_for: str) -> int:
        form = {"username": "root", "password": password}
        return client.post("/admin/login/", form, HTTP_X_FORWARDED_FOR=forwarded_for).status_code

    # No trusted proxy: a rotating X-Forwarded-For still comes from one address, and it is locked out.
    assert [login(f"wrong-{n}", hop) for n, hop in enumerate(rotating(3))][-1] == 429
    settings.TRUSTED_PROXIES = [PEER]
    # Behind the proxy, the client it names is locked out, and only that client.
    assert [login(f"wrong-{n}", f"{hop}, 203.0.113.5") for n, hop in enumerate(rotating(3))][-1] == 429
    assert login("right-password-1", "203.0.113.5") == 429
    assert login("right-password-1", "203.0.113.6") == 302


@pytest.mark.parametrize(
    ("trusted", "peer", "forwarded_for", "client"),
    [
        ([], "192.0.2.1", "198.51.100.1", "192.0.2.1"),  # nothing trusted: the header is ignored
        (["10.0.0.0/8"], "192.0.2.1", "198.51.100.1", "192.0.2.1"),  # a peer that is no proxy of ours
        (["10.0.0.0/8"], "10.0.0.2", "", "10.0.0.2"),  # a trusted proxy that forwarded nothing
        (["10.0.0.0/8"], "10.0.0.2", "6.6.6.6, 198.51.100.1", "198.51.100.1"),
        (["10.0.0.0/8"], "10.0.0.2", "6.6.6.6, 198.51.100.1, 10.1.2.3", "198.51.100.1"),  # two proxies
        (["10.0.0.0/8"], "10.0.0.2", "10.9.9.9, 10.1.2.3", "10.9.9.9"),  # every hop a proxy: the first
        (["10.0.0.0/8"], "10.0.0.2", "198.51.100.1, not-an-address", "10.0.0.2"),  # no proxy wrote that
        (["10.0.0.0/8"], "10.0.0.2", "198.51.100.1:5123", "198.51.100.1"),  # with a port
        (["10.0.0.0/8"], "10.0.0.2", "[2001:db8::1]:5123", "2001:db8::1"),
        (["::1"], "::1", "::ffff:198.51.100.1", "198.51.100.1"),  # IPv4-mapped
    ],
)
def test_the_rule(settings, trusted, peer, forwarded_for, client):
    settings.TRUSTED_PROXIES = trusted
    request = RequestFactory().get("/", REMOTE_ADDR=peer, HTTP_X_FORWARDED_FOR=forwarded_for)
    assert client_address(request) == client


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("trusted", "logged"), [("", PEER), (PEER, "203.0.113.5")])
def test_the_access_log_names_the_same_client(trusted, logged):
    env = process_env(database=database_url(connection.settings_dict), redis_url=None, TRUSTED_PROXIES=trusted)
    with Web(env, access_log=True) as web:
        headers = {"X-Forwarded-For": "6.6.6.6, 203.0.113.5"}
        requests.get(f"{web.url}/api/v1/destination-types?probe=1", headers=headers, timeout=10)
        line = next(line for line in web.output().splitlines() if "probe=1" in line)
    assert f"{logged}:" in line, line


def test_a_trusted_proxy_that_is_no_address_stops_start_up():
    env = {**os.environ, "DJANGO_DEBUG": "true", "DJANGO_TESTING": "false", "TRUSTED_PROXIES": "10.0.0.0/8,nginx"}
    done = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    assert "TRUSTED_PROXIES must list IP addresses or CIDR networks" in done.stderr.splitlines()[-1]
    assert "'nginx'" in done.stderr.splitlines()[-1]
