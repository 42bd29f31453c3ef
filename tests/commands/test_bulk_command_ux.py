"""The bulk command's ergonomics (issue 12.8) and `--enqueue`: exit 2 naming what matched nothing or too
much, a rich progress bar on stderr only, tables within the width, and create_workspace's duplicate rule."""

from __future__ import annotations

import io
import json
import re
import uuid

import pytest
from django.core.management import CommandError, call_command, load_command_class

from destinations.models import TestJob, TestRun
from destinations.schedule.tick import scheduler_tick
from tests.factories import WorkspaceFactory
from tests.hooks import hook, wait_for
from workspaces.models import Workspace

pytestmark = pytest.mark.django_db(transaction=True)


class TTY(io.StringIO):
    def isatty(self):
        return True


def run(*args, command="test_destinations", stdout=None, stderr=None):
    out, err = stdout or io.StringIO(), stderr or io.StringIO()
    command = load_command_class("destinations" if command == "test_destinations" else "workspaces", command)
    try:
        call_command(command, *args, stdout=out, stderr=err)
        code = command.exit_status
    except CommandError as exc:
        err.write(str(exc))
        code = exc.returncode
    return out.getvalue(), err.getvalue(), code


def test_an_id_that_matches_nothing_exits_2_naming_it(receiver):
    known = hook(receiver)
    missing = uuid.uuid4()
    _out, err, code = run("--id", str(known.pk), "--id", str(missing))
    assert code == 2
    assert f"--id: No destination with the id {missing}." in err
    assert not TestRun.objects.exists()  # nothing ran


def test_a_workspace_name_shared_by_several_exits_2_naming_them(receiver):
    first, second = WorkspaceFactory(name="Acme"), WorkspaceFactory(name="Acme")
    hook(receiver, workspace=first)
    _out, err, code = run("--workspace", "Acme")
    assert code == 2
    assert "--workspace: 2 workspaces are named 'Acme'; use an id:" in err
    assert str(first.pk) in err and str(second.pk) in err
    out, _err, code = run("--workspace", str(first.pk), "--json")
    assert code == 0 and len(out.splitlines()) == 1


def test_the_progress_bar_stays_on_stderr_apart_from_json(receiver):
    for _ in range(3):
        hook(receiver)
    out, err = io.StringIO(), TTY()
    _o, _e, code = run("--all", "--json", stdout=out, stderr=err)
    assert code == 0
    lines = out.getvalue().splitlines()
    assert len(lines) == 3 and all(json.loads(line)["success"] for line in lines)  # stdout: JSON only
    assert "3/3" in err.getvalue() and "ETA" in err.getvalue() and "/s" in err.getvalue()
    assert "{" not in err.getvalue().split("Tested")[0]  # no JSON on the progress stream


@pytest.mark.parametrize("columns", [60, 100, 160])
def test_summary_tables_fit_the_width(monkeypatch, receiver, columns):
    monkeypatch.setenv("COLUMNS", str(columns))
    bad = hook(receiver, key="wrong", name="A destination with a rather long name " * 3)
    out, _err, code = run("--all", stdout=TTY())
    out = re.sub(r"\x1b\[[0-9;]*m", "", out)  # a terminal's styles take no columns
    assert code == 1
    assert max(len(line) for line in out.splitlines()) <= columns, out
    assert str(bad.pk) in out  # the id is never broken across lines
    assert "auth_invalid" in out.replace("\n", "") or "auth_inva" in out


def test_enqueue_records_a_job_per_workspace_and_returns(receiver, settings):
    settings.API_PUBLIC_URL = "https://destinations.example.com/"
    acme, globex = WorkspaceFactory(name="Acme"), WorkspaceFactory(name="Globex")
    hook(receiver, workspace=acme)
    hook(receiver, workspace=acme)
    hook(receiver, workspace=globex)
    out, _err, code = run("--all", "--enqueue", "--json")
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert [(line["workspace_id"], line["total"]) for line in lines] == [(str(acme.pk), 2), (str(globex.pk), 1)]
    jobs_url = f"https://destinations.example.com/api/v1/workspaces/{acme.pk}/destinations/test-jobs"
    assert lines[0]["url"] == f"{jobs_url}/{lines[0]['job_id']}"  # the whole URL, to paste into curl
    assert not TestRun.objects.exists()  # nothing ran in the command
    job = TestJob.objects.get(pk=lines[0]["job_id"])
    assert (job.state, job.trigger) == ("queued", "cli")

    # Embedded runtime: the running server's scheduler tick starts queued jobs.
    assert scheduler_tick().jobs_started == 2
    wait_for(lambda: TestJob.objects.filter(state="done").count() == 2, timeout=15)
    assert TestRun.objects.filter(trigger="job").count() == 3
    assert scheduler_tick().jobs_started == 0

    out, _err, code = run("--workspace", "Acme", "--enqueue")
    assert code == 0
    job = TestJob.objects.filter(state="queued").get()
    assert out.rstrip().endswith(f"GET {jobs_url}/{job.pk}")


def test_create_workspace_refuses_a_duplicate_name():
    out, _err, code = run("--name", "Acme", "--email", "ops@acme.example", command="create_workspace")
    assert code == 0
    first = json.loads(out)["workspace_id"]
    _out, err, code = run("--name", "Acme", "--email", "ops@acme.example", command="create_workspace")
    assert code == 2
    assert "A workspace named 'Acme' already exists" in err and first in err and "--allow-duplicate-name" in err
    assert Workspace.objects.filter(name="Acme").count() == 1
    out, _err, code = run(
        "--name", "Acme", "--email", "ops@acme.example", "--allow-duplicate-name", command="create_workspace"
    )
    assert code == 0 and Workspace.objects.filter(name="Acme").count() == 2
