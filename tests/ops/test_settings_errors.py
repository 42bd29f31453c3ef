"""A bad setting stops start-up with the variable's name and the form it expects."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("CONNECTION_TEST_WORKERS", "abc", "CONNECTION_TEST_WORKERS must be a whole number of at least 1"),
        ("CONNECTION_TEST_WORKERS", "0", "CONNECTION_TEST_WORKERS must be a whole number of at least 1"),
        ("CONNECTION_TEST_TIMEOUT_SECONDS", "soon", "CONNECTION_TEST_TIMEOUT_SECONDS must be a number"),
        ("CONNECTOR_BASE_URLS", "{", "CONNECTOR_BASE_URLS must be a JSON object"),
        ("CONNECTOR_BASE_URLS", '["https://x"]', "got a JSON list"),
        ("CONNECTOR_BASE_URLS", '{"hubspot": "ftp://files.example.com"}', "the value for 'hubspot' is not an http(s)"),
        ("OAUTH_APPS", "[]", "OAUTH_APPS must be a JSON object"),
        ("OAUTH_APPS", '{"salesforce": {"client_id": "x"}}', "'salesforce' needs string client_id and client_secret"),
        ("OAUTH_REDIRECT_ALLOWED", "app.example.com", "OAUTH_REDIRECT_ALLOWED must list http(s) URLs"),
    ],
)
def test_a_bad_setting_names_itself_and_the_expected_form(name, value, says):
    env = {**os.environ, "DJANGO_DEBUG": "true", "DJANGO_TESTING": "false", name: value}
    done = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    assert says in done.stderr.splitlines()[-1]
