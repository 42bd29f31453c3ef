"""Test jobs are bounded: each destination counts against the vendor-call budget, a workspace has a cap of jobs
queued or running, and jobs waiting their turn hold no thread."""

from __future__ import annotations

import io
import threading

import pytest
from django.core.management import CommandError, call_command

from destinations.models import TestJob
from tests.hooks import hook, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def jobs_path(api):
    return api.path("destinations/test-jobs")


def all_jobs_done(timeout=30):
    wait_for(lambda: not TestJob.objects.exclude(state="done").exists(), timeout=timeout)


@pytest.mark.parametrize("scope", ["vendor_calls_per_token", "vendor_calls_per_address"])
def test_a_job_counts_each_destination_against_the_vendor_call_budget(api, receiver, settings, scope):
    settings.API_RATE_LIMITS = {"vendor_calls_per_token": None, "vendor_calls_per_address": None, scope: "5/min"}
    for _ in range(3):
        hook(receiver, workspace=api.workspace)

    assert api.post(jobs_path(api), {"all": True}, format="json").status_code == 202
    refused = api.post(jobs_path(api), {"all": True}, format="json")  # 3 + 3 tests > 5 a minute
    assert refused.status_code == 429, refused.content
    assert 0 < int(refused["Retry-After"]) <= 60
    assert "would test 3 destinations" in refused.json()["detail"]
    assert TestJob.objects.count() == 1  # the refused job is not kept
    # The two tests left in the budget: a single test still passes, a third does not.
    single = {"destination_type": "webhook", "config": {"url": f"{receiver.url}/hooks/in"}}
    assert [api.post(api.path("destinations/test"), single, format="json").status_code for _ in range(3)] == [
        200,
        200,
        429,
    ]
    all_jobs_done()


def test_a_workspace_past_its_cap_of_jobs_gets_429_with_retry_after(api, other_api, receiver, settings):
    settings.TEST_JOBS_PER_WORKSPACE = 2
    receiver.slow("hook", 1.0)
    hook(receiver, workspace=api.workspace)
    hook(receiver, workspace=other_api.workspace)

    statuses = [api.post(jobs_path(api), {"all": True}, format="json") for _ in range(3)]
    assert [r.status_code for r in statuses] == [202, 202, 429]
    assert int(statuses[2]["Retry-After"]) > 0
    assert "TEST_JOBS_PER_WORKSPACE" in statuses[2].json()["detail"]
    assert other_api.post(jobs_path(other_api), {"all": True}, format="json").status_code == 202  # its own cap
    all_jobs_done()
    assert api.post(jobs_path(api), {"all": True}, format="json").status_code == 202  # room again
    all_jobs_done()


def test_waiting_jobs_hold_no_thread(api, receiver, settings):
    settings.TEST_JOBS_PER_WORKSPACE = 100
    settings.TEST_JOB_RUNNERS = 2
    receiver.slow("hook", 0.3)
    hook(receiver, workspace=api.workspace)

    def job_threads():
        return [t for t in threading.enumerate() if t.name.startswith("test-job")]

    bound = max(2, len(job_threads()))  # runners started by an earlier test of this process stay
    for _ in range(12):
        assert api.post(jobs_path(api), {"all": True}, format="json").status_code == 202
    assert len(job_threads()) <= bound, [t.name for t in job_threads()]
    assert TestJob.objects.filter(state="queued").exists()  # the others wait, threadless
    all_jobs_done(timeout=60)
    assert len(job_threads()) <= bound


def test_the_command_past_the_cap_exits_2_naming_the_setting(api, receiver, settings):
    settings.TEST_JOBS_PER_WORKSPACE = 1
    hook(receiver, workspace=api.workspace)
    call_command("test_destinations", "--all", "--enqueue", "--json", stdout=io.StringIO())  # queued for the scheduler
    with pytest.raises(CommandError, match="TEST_JOBS_PER_WORKSPACE") as refused:
        call_command("test_destinations", "--all", "--enqueue", "--json", stdout=io.StringIO())
    assert refused.value.returncode == 2
    assert TestJob.objects.count() == 1
