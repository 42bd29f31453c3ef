"""uvicorn's access log, as `make run` writes it, carries no authorization code or token from a query string."""

import pytest
import requests
from django.db import connection

from tests.topology import Web, database_url, process_env

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_oauth_callbacks_code_and_state_never_reach_the_access_log():
    code, state = "CODE-4f9a1c77e2", "STATE-b81d0e"
    env = process_env(database=database_url(connection.settings_dict), redis_url=None)
    with Web(env, access_log=True) as web:
        requests.get(f"{web.url}/api/v1/oauth/callback", params={"code": code, "state": state}, timeout=10)
        requests.get(f"{web.url}/api/v1/destination-types", params={"api_key": "KEY-93c1", "type": "x"}, timeout=10)
        log = web.output()
    assert "/api/v1/oauth/callback?code=********&state=********" in log
    assert "api_key=********&type=x" in log  # other parameters stay readable
    for secret in (code, state, "KEY-93c1"):
        assert secret not in log
