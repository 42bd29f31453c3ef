"""Schemathesis against a live server: generated requests for every operation, no 5xx, every answer as documented.

The server runs in this process (tests/sse.py LiveServer), so the test session's offline DNS applies and no
generated URL reaches past loopback. Bounded: a few examples per operation.
"""

from __future__ import annotations

import pytest
import schemathesis
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from tests.sse import LiveServer

EXAMPLES = 10
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@pytest.fixture
def live(transactional_db):
    """A workspace, an admin token and a live server on the test database."""
    from workspaces.services import workspace_bootstrap

    with override_settings(API_RATE_LIMITS={}), LiveServer() as server:
        workspace, _user, token = workspace_bootstrap(name="Schemathesis", email="st@example.com")
        server.auth = {"Authorization": f"Bearer {token}", "X-Workspace-ID": str(workspace.pk)}
        server.workspace_id = str(workspace.pk)
        yield server


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_operation_answers_as_documented(live, mode):
    api_schema = schemathesis.openapi.from_url(f"{live.url}/api/schema/?format=json")
    failures = []
    for result in api_schema.get_all_operations():
        operation = result.ok()
        fixed = {"workspace_id": live.workspace_id} if "{workspace_id}" in operation.path else {}

        @given(case=operation.as_strategy(mode, path_parameters=fixed, headers=live.auth))
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case):
            case.call_and_validate(base_url=live.url, checks=CHECKS, timeout=30)

        try:
            check()
        except Unsatisfiable:
            continue  # nothing in this operation can be made invalid (no parameters, no body)
        except Exception as exc:  # collect every operation's failure, then report them together
            failures.append(f"{operation.label}: {str(exc)[:1500]}")
    assert not failures, "\n\n".join(failures)
