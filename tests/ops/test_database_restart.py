"""PostgreSQL restarted in the middle of work, with real processes: a uvicorn server (embedded runtime) on a
throwaway PostgreSQL cluster of its own, 50 connection tests streaming and a job running when the database
stops. During the outage the API answers 503 with Retry-After, never a 500; once the database is back the
service recovers by itself, and every run ends (finished, or `interrupted` by the reaper)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time

import psycopg
import pytest
import requests

from tests.emulators.webhook import WebhookReceiver
from tests.sse import iter_events
from tests.topology import ROOT, PostgresCluster, Web, postgres_binaries, process_env

pytestmark = pytest.mark.distributed

STREAMS, JOB_SIZE, OUTAGE_SECONDS = 50, 10, 6

SEED = """
import json, django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from tests.factories import DestinationFactory, MembershipFactory
from workspaces.services import api_token_create
membership = MembershipFactory(role="admin")
_token, plaintext = api_token_create(workspace=membership.workspace, user=membership.user)
ids = [
    str(DestinationFactory(workspace=membership.workspace, config={"url": URL}, secrets={"headers": {}}).pk)
    for _ in range(COUNT)
]
print(json.dumps({"token": plaintext, "workspace": str(membership.workspace.pk), "ids": ids}))
"""


@pytest.fixture
def cluster():
    bin_dir = postgres_binaries()
    if bin_dir is None:
        pytest.skip("PostgreSQL's server binaries (initdb, pg_ctl) are not installed")
    cluster = PostgresCluster(bin_dir).init()
    yield cluster
    cluster.remove()


class Stream(threading.Thread):
    """One connection test read as SSE to its end (or until the server drops it)."""

    def __init__(self, url, headers):
        super().__init__(daemon=True)
        self.url, self.headers = url, headers
        self.status = None
        self.events: list[str] = []

    def run(self):
        try:
            with requests.post(self.url, headers=self.headers, stream=True, timeout=(5, 120)) as response:
                self.status = response.status_code
                for event in iter_events(response):
                    self.events.append(event.type)
        except requests.RequestException:
            pass


def test_a_database_restart_mid_work_gives_503s_and_the_service_recovers(cluster):
    with WebhookReceiver() as receiver:
        receiver.slow("hook", 3.0)  # the tests are in flight when the database goes
        database = cluster.create_database("dest")
        env = process_env(
            database=database,
            redis_url=None,
            EMBEDDED_SCHEDULER="true",
            SCHEDULER_TICK_SECONDS=1,
            CONNECTION_TEST_HEARTBEAT_SECONDS=1,
            CONNECTION_TEST_STALE_SECONDS=5,
            DB_POOL_TIMEOUT_SECONDS=2,
            RATE_LIMIT_VENDOR_CALLS_PER_TOKEN="off",
            RATE_LIMIT_VENDOR_CALLS_PER_ADDRESS="off",
        )
        seed = SEED.replace("URL", repr(f"{receiver.url}/hooks/in")).replace("COUNT", str(STREAMS))
        seeded = subprocess.run(
            [sys.executable, "-c", seed], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
        )
        assert seeded.returncode == 0, seeded.stderr[-3000:]
        data = json.loads(seeded.stdout.strip().splitlines()[-1])
        headers = {"Authorization": f"Bearer {data['token']}", "X-Workspace-ID": data["workspace"]}

        with Web(env) as web:
            base = f"{web.url}/api/v1/workspaces/{data['workspace']}/destinations"
            streams = [Stream(f"{base}/{pk}/test", headers) for pk in data["ids"]]
            for stream in streams:
                stream.start()
            job = requests.post(
                f"{base}/test-jobs", json={"ids": data["ids"][:JOB_SIZE], "concurrency": 2}, headers=headers, timeout=30
            )
            assert job.status_code == 202, job.text
            time.sleep(1.5)  # the tests wait on the slow vendor; the job has started some

            admin = requests.Session()  # an admin sign-in form, loaded before the outage and sent during it
            form = admin.get(f"{web.url}/admin/login/", timeout=30).text
            csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)

            cluster.stop()
            sign_in = admin.post(
                f"{web.url}/admin/login/",
                data={"csrfmiddlewaretoken": csrf, "username": "someone", "password": "wrong"},
                headers={"Referer": f"{web.url}/admin/login/"},
                timeout=30,
            )
            assert sign_in.status_code == 503 and int(sign_in.headers["Retry-After"]) > 0, sign_in.text[:500]
            assert "database is unavailable" in sign_in.text
            during = []
            outage_ends = time.monotonic() + OUTAGE_SECONDS
            while time.monotonic() < outage_ends:
                answer = requests.get(base, headers=headers, timeout=30)
                during.append((answer.status_code, answer.headers.get("Retry-After"), answer.text))
            cluster.start()
            back_at = time.monotonic()

            recovered_in = None
            while time.monotonic() - back_at < 60:
                answer = requests.get(base, headers=headers, timeout=30)
                if answer.status_code == 200:
                    recovered_in = time.monotonic() - back_at
                    break
                assert answer.status_code == 503, (answer.status_code, answer.text)
                time.sleep(0.1)
            print(f"recovered {recovered_in} s after the database came back")
            assert recovered_in is not None and recovered_in < 10

            assert during and all(status == 503 for status, _, _ in during), {s for s, _, _ in during}
            assert all(retry_after and int(retry_after) > 0 for _, retry_after, _ in during)
            assert all("Traceback" not in text and "database" in text.lower() for _, _, text in during)

            for stream in streams:
                stream.join(timeout=60)
            assert not [s for s in streams if s.is_alive()]
            assert {s.status for s in streams} <= {200}

            def unfinished():
                with psycopg.connect(cluster.url("dest")) as db:
                    runs = db.execute("SELECT count(*) FROM destinations_testrun WHERE finished_at IS NULL")
                    jobs = db.execute("SELECT count(*) FROM destinations_testjob WHERE state <> 'done'")
                    return runs.fetchone()[0], jobs.fetchone()[0]

            deadline = time.monotonic() + 60
            while unfinished() != (0, 0) and time.monotonic() < deadline:
                time.sleep(0.5)
            assert unfinished() == (0, 0)
            with psycopg.connect(cluster.url("dest")) as db:
                outcomes = db.execute(
                    "SELECT coalesce(nullif(error_code, ''), 'ok'), count(*) FROM destinations_testrun GROUP BY 1"
                ).fetchall()
                holder = db.execute("SELECT holder FROM destinations_schedulerlease").fetchone()[0]
            print("runs by outcome:", dict(outcomes))
            assert holder.split(":")[1] == str(web.pid)  # its scheduler (the reaper) took the lease on PostgreSQL
