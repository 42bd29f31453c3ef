"""docs/workspace-as-code.md's script, run as written (bash, curl, jq) against a live server: a workspace is
created, staffed, tokened and monitored through the API alone; run again, it creates nothing twice."""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import subprocess

import pytest

from destinations.models import Destination, WorkspaceMonitoring
from tests.sse import LiveServer
from workspaces.models import ApiToken, Membership, Workspace
from workspaces.services import workspace_bootstrap

PAGE = pathlib.Path(__file__).resolve().parents[2] / "docs" / "workspace-as-code.md"

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not (shutil.which("curl") and shutil.which("jq")), reason="needs curl and jq"),
]


def script() -> str:
    block = re.search(r"<!-- workspace-script -->\n```sh\n(.*?)```\n<!-- /workspace-script -->", PAGE.read_text(), re.S)
    assert block, "the page lost its script block"
    return block.group(1)


def run(server: LiveServer, token: str, **more_env) -> dict:
    env = {**os.environ, "BASE_URL": server.url, "OPERATOR_TOKEN": token, **more_env}
    result = subprocess.run(["bash", "-c", script()], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def test_the_documented_script_sets_up_a_workspace(settings):
    settings.ALLOWED_HOSTS = ["*"]
    _operators, operator, token = workspace_bootstrap(name="Operators", email="ops@acme.example")
    operator.is_staff = True
    operator.save()

    with LiveServer() as server:
        printed = run(server, token)
        workspace = Workspace.objects.get(pk=printed["workspace_id"])
        roles = dict(Membership.objects.filter(workspace=workspace).values_list("user__email", "role"))
        assert roles == {"ops@acme.example": "admin", "lead@acme.example": "admin", "dev@acme.example": "viewer"}
        ci = ApiToken.objects.get(workspace=workspace, name="ci")
        assert ci.expires_at and printed["ci_token"].startswith(ci.display_prefix)
        monitoring = WorkspaceMonitoring.objects.get(workspace=workspace)
        assert monitoring.check_interval_minutes == 30
        assert monitoring.signing_secret["secret"] == printed["signing_secret"]
        assert Destination.objects.get(workspace=workspace).check_interval_minutes == 10

        # idempotent: the same workspace, nothing made twice, no secret shown a second time
        again = run(server, token, WORKSPACE_TOKEN=printed["workspace_token"])
    assert again["workspace_id"] == printed["workspace_id"] and again["ci_token"] == again["signing_secret"] == ""
    assert Workspace.objects.filter(name="Acme EU").count() == 1
    assert ApiToken.objects.filter(workspace=workspace, name="ci").count() == 1
