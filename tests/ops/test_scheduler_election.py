"""One embedded scheduler per database, elected in the database: real uvicorn servers of one checkout.

Two servers on one database: one schedules, the other logs why not. Two servers on different databases: both
schedule. The scheduling one killed: the other takes over within the lease.
"""

from __future__ import annotations

import sqlite3
import time

import pytest
from django.db import connection

from destinations.models import SchedulerLease, TestJob
from tests.factories import WorkspaceFactory
from tests.topology import Web, database_url, process_env

pytestmark = [pytest.mark.distributed, pytest.mark.django_db(transaction=True)]

TICK, LEASE = 0.3, 3


@pytest.fixture
def servers():
    started = []

    def start(database: str) -> Web:
        env = process_env(
            database=database,
            redis_url=None,
            EMBEDDED_SCHEDULER="true",
            SCHEDULER_TICK_SECONDS=TICK,
            SCHEDULER_LEASE_SECONDS=LEASE,
            LOG_LEVEL="INFO",
        )
        web = Web(env)
        started.append(web)
        return web.start()

    yield start
    for web in started:
        web.stop()


def wait_until(condition, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError("timed out waiting")


def holder_pid(database_file: str | None = None) -> int | None:
    """The pid of the process holding the scheduler lease (host:pid:nonce), read from a database file or ours."""
    if database_file is None:
        lease = SchedulerLease.objects.filter(name="embedded-scheduler").first()
        holder = lease.holder if lease else None
    else:
        with sqlite3.connect(database_file) as db:
            row = db.execute("SELECT holder FROM destinations_schedulerlease").fetchone()
        holder = row[0] if row else None
    return int(holder.split(":")[1]) if holder else None


@pytest.fixture
def sqlite_only():
    if connection.vendor != "sqlite":
        pytest.skip("copies the SQLite test database to make a second one")


def test_two_servers_on_one_database_run_one_scheduler_and_the_other_takes_over_when_it_dies(servers):
    database = database_url(connection.settings_dict)
    first, second = servers(database), servers(database)
    leader_pid = wait_until(holder_pid, timeout=10)
    time.sleep(3 * TICK)
    assert holder_pid() == leader_pid  # it renews; the other does not take it
    leader, follower = (first, second) if leader_pid == first.pid else (second, first)
    assert leader_pid in (first.pid, second.pid)
    wait_until(lambda: "does not run the embedded scheduler" in follower.output(), timeout=5)
    assert f":{leader.pid}:" in follower.output()  # and it names the process that does
    assert "runs the embedded scheduler" in leader.output()

    leader.kill()  # no clean stop: the lease is left to expire
    killed_at = time.monotonic()
    wait_until(lambda: holder_pid() == follower.pid, timeout=LEASE + 3)
    assert time.monotonic() - killed_at <= LEASE + 2 * TICK + 1


def test_servers_of_one_checkout_on_different_databases_each_schedule(servers, sqlite_only, tmp_path):
    workspace = WorkspaceFactory()
    queued = TestJob.objects.create(workspace=workspace, trigger="cli", total=0)  # a scheduler tick starts it
    other_file = str(tmp_path / "other.sqlite3")
    with sqlite3.connect(connection.settings_dict["NAME"]) as ours, sqlite3.connect(other_file) as other:
        ours.backup(other)

    ours_web = servers(database_url(connection.settings_dict))
    other_web = servers(f"sqlite:///{other_file}")

    def job_done(database_file):
        with sqlite3.connect(database_file) as db:
            return db.execute("SELECT state FROM destinations_testjob WHERE id = ?", [queued.pk.hex]).fetchone()[0]

    wait_until(lambda: job_done(connection.settings_dict["NAME"]) == "done", timeout=10)
    wait_until(lambda: job_done(other_file) == "done", timeout=10)
    assert holder_pid() == ours_web.pid and holder_pid(other_file) == other_web.pid
