"""deploy/nginx.conf streams: nginx (Debian's package) runs that file in front of a live server.

Only its addresses (the upstream servers, `listen`) and the static root are changed, each exactly once. Through
nginx a test's steps arrive live, a run is re-attached to with Last-Event-ID, the admin loads with its CSS, and
a file gathered into the static root is served by nginx itself, and a client is known by the address nginx
appended to X-Forwarded-For (TRUSTED_PROXIES).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests
from django.db import connection

from tests.emulators.webhook import WebhookReceiver
from tests.topology import ROOT, Web, database_url, free_port, process_env
from workspaces.services import workspace_bootstrap

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
STEP_SECONDS = 1.5  # the receiver answers each of the two steps after this long

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.access(NGINX, os.X_OK), reason="nginx is not installed (.ci/run installs Debian's)"),
]


def shipped_config(*, web_port: int, listen_port: int, static_root: Path) -> str:
    """deploy/nginx.conf with its addresses and static root set for this machine, nothing else changed."""
    text = (ROOT / "deploy" / "nginx.conf").read_text()
    for old, new in [
        ("server 127.0.0.1:8000;", f"server 127.0.0.1:{web_port};"),
        ("server 127.0.0.1:8001;", f"server 127.0.0.1:{web_port};"),
        ("listen 8080;", f"listen 127.0.0.1:{listen_port};"),
        ("root /srv/destinations;", f"root {static_root};"),
    ]:
        assert text.count(old) == 1, f"deploy/nginx.conf no longer has {old!r} once"
        text = text.replace(old, new)
    return text


@pytest.fixture
def nginx(tmp_path):
    """Start nginx with the shipped file inside a minimal main configuration of its own; yield (start, url)."""
    processes = []

    def start(web_port: int) -> str:
        port, static_root = free_port(), tmp_path / "root"
        (static_root / "static").mkdir(parents=True)
        (tmp_path / "destinations.conf").write_text(
            shipped_config(web_port=web_port, listen_port=port, static_root=static_root)
        )
        for directory in (tmp_path, static_root, static_root / "static"):
            directory.chmod(0o755)
        user = "user root;" if os.geteuid() == 0 else ""
        (tmp_path / "nginx.conf").write_text(
            f"{user}\ndaemon off;\nworker_processes 1;\npid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\n"
            "events {}\nhttp {\n  include /etc/nginx/mime.types;\n  access_log off;\n"
            + "".join(
                f"  {kind}_temp_path {tmp_path}/{kind};\n"
                for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
            )
            + f"  include {tmp_path}/destinations.conf;\n}}\n"
        )
        process = subprocess.Popen(
            [NGINX, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-e", str(tmp_path / "error.log")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        processes.append(process)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                requests.get(f"{url}/healthz", timeout=1)
                return url
            except requests.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError((tmp_path / "error.log").read_text()) from None
                time.sleep(0.1)

    yield start, tmp_path
    for process in processes:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def web():
    env = process_env(database=database_url(connection.settings_dict), redis_url=None, TRUSTED_PROXIES="127.0.0.1")
    with Web(env, access_log=True) as server:
        yield server


def events(response: requests.Response, started: float):
    """(seconds since `started`, event name, id) of each event as it arrives."""
    event = {}
    for line in response.iter_lines(decode_unicode=True):
        if line.startswith(("event:", "id:")):
            key, _, value = line.partition(":")
            event[key] = value.strip()
        elif not line and "event" in event:
            yield time.monotonic() - started, event["event"], event.get("id")
            event = {}


def test_through_the_shipped_nginx_config_steps_arrive_live_and_a_run_is_re_attached(web, nginx):
    start, _ = nginx
    proxy = start(web.port)
    workspace, _user, token = workspace_bootstrap(name="Behind nginx", email="ops@example.com")
    headers = {"Authorization": f"Bearer {token}", "X-Workspace-ID": str(workspace.pk)}
    base = f"{proxy}/api/v1/workspaces/{workspace.pk}/destinations"
    with WebhookReceiver() as receiver:
        receiver.slow("hook", STEP_SECONDS)
        body = {"destination_type": "webhook", "config": {"url": f"{receiver.url}/hooks/nginx"}}
        started = time.monotonic()
        with requests.post(f"{base}/test", json=body, headers=headers, stream=True, timeout=30) as response:
            assert response.status_code == 200, response.text
            run_id = response.headers["X-Test-Run-ID"]
            arrived = list(events(response, started))

    names = [name for _, name, _ in arrived]
    assert names == ["step", "step", "done"], arrived
    first_step, done = arrived[0][0], arrived[-1][0]
    assert done >= 2 * STEP_SECONDS * 0.9, arrived
    assert first_step < done - STEP_SECONDS * 0.6, f"the first step waited for the slow one: {arrived}"

    first_id = arrived[0][2]
    with requests.get(
        f"{base}/test-runs/{run_id}/events", headers={**headers, "Last-Event-ID": first_id}, stream=True, timeout=30
    ) as response:
        assert response.status_code == 200
        replayed = [(name, event_id) for _, name, event_id in events(response, time.monotonic())]
    assert replayed == [(name, event_id) for _, name, event_id in arrived[1:]]


def test_through_the_shipped_nginx_config_the_admin_loads_and_static_files_are_served(web, nginx):
    start, tmp_path = nginx
    proxy = start(web.port)
    (tmp_path / "root" / "static" / "release.txt").write_text("served by nginx")

    login = requests.get(f"{proxy}/admin/login/", timeout=10)
    assert login.status_code == 200
    assert "Log in" in login.text
    stylesheet = next(
        part.split('"')[0] for part in login.text.split('href="')[1:] if part.split('"')[0].endswith(".css")
    )
    assert requests.get(f"{proxy}{stylesheet}", timeout=10).status_code == 200  # not collected: the app serves it
    gathered = requests.get(f"{proxy}/static/release.txt", timeout=10)
    assert gathered.text == "served by nginx"
    assert "public" in gathered.headers["Cache-Control"]


def test_through_the_shipped_nginx_config_the_client_is_the_address_nginx_saw(web, nginx):
    """TRUSTED_PROXIES names nginx (127.0.0.1); a client at 127.0.0.2 that writes its own X-Forwarded-For hop
    is still known by the address nginx appended."""
    start, _ = nginx
    proxy_port = int(start(web.port).rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", proxy_port), source_address=("127.0.0.2", 0), timeout=10) as sock:
        sock.sendall(
            b"GET /api/v1/destination-types?nginx-probe=1 HTTP/1.1\r\nHost: localhost\r\n"
            b"X-Forwarded-For: 6.6.6.6\r\nConnection: close\r\n\r\n"
        )
        assert sock.recv(64).startswith(b"HTTP/1.1 401")
    deadline = time.monotonic() + 5
    while not (lines := [line for line in web.output().splitlines() if "nginx-probe=1" in line]):
        assert time.monotonic() < deadline, web.output()
        time.sleep(0.1)
    assert "127.0.0.2:" in lines[0] and "6.6.6.6" not in lines[0], lines[0]
