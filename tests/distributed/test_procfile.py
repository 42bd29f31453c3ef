"""`make run-distributed` starts the Procfile through honcho, and /metrics on any web process counts the tests
the worker ran, because the recipe shares and empties PROMETHEUS_MULTIPROC_DIR.

The test runs the recipe's own last lines (from `make -n`), on this run's database and Redis queue.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time

import requests

from tests.sse import iter_events
from tests.topology import ROOT, free_port
from workspaces.services import workspace_bootstrap

METRICS_TOKEN = "procfile-metrics-token"


def recipe(port: int, redis_url: str) -> str:
    """The commands `make run-distributed` runs once the database and Redis are ready: the metrics directory and
    honcho."""
    printed = subprocess.run(
        ["make", "-n", "--no-print-directory", "run-distributed", f"PORT={port}", f"REDIS_URL={redis_url}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return printed[printed.index("rm -rf") :]


def wait_for(url: str, process: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            requests.get(url, timeout=1)
            return
        except requests.ConnectionError:
            assert process.poll() is None, process.stdout.read()
            assert time.monotonic() < deadline, f"{url} did not answer"
            time.sleep(0.2)


def test_the_procfile_serves_two_web_processes_and_metrics_count_the_workers_tests(topology, receiver):
    port = free_port()
    while True:  # honcho gives the second web process PORT + 1
        try:
            with socket.create_server(("127.0.0.1", port + 1)):
                break
        except OSError:
            port = free_port()
    env = topology.env(METRICS_TOKEN=METRICS_TOKEN)
    honcho = subprocess.Popen(
        ["bash", "-c", recipe(port, topology.redis_url)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        first, second = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port + 1}"
        wait_for(f"{first}/healthz", honcho)
        wait_for(f"{second}/healthz", honcho)
        workspace, _user, token = workspace_bootstrap(name="Procfile", email="ops@example.com")
        headers = {"Authorization": f"Bearer {token}", "X-Workspace-ID": str(workspace.pk)}
        body = {
            "destination_type": "webhook",
            "config": {"url": f"{receiver.url}/hooks/procfile", "headers": {"X-API-Key": "k-123"}},
        }
        with requests.post(
            f"{first}/api/v1/workspaces/{workspace.pk}/destinations/test",
            json=body,
            headers=headers,
            stream=True,
            timeout=60,
        ) as response:
            done = [event for event in iter_events(response) if event.type == "done"]
        assert done and done[0].data["success"], done

        metrics = requests.get(f"{second}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=10)
        assert metrics.status_code == 200
        counted = [
            line
            for line in metrics.text.splitlines()
            if line.startswith("connection_test_runs_total{") and 'destination_type="webhook"' in line
        ]
        assert counted and float(counted[0].rsplit(" ", 1)[1]) == 1.0, metrics.text
    finally:
        os.killpg(honcho.pid, signal.SIGTERM)
        honcho.wait(timeout=30)
