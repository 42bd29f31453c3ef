"""A hostile vendor cannot hold the server: bodies are capped, sockets have a total deadline, an abandoned
test's sockets and threads are released, and protocol faults are the vendor's error."""

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from connectors.runtime.base import FAILED
from connectors.runtime.errors import ConnectorError, ErrorCode
from connectors.runtime.http import OutboundClient, OutboundPolicy, parse_networks
from connectors.runtime.registry import get_connector_class
from connectors.runtime.runner import run_test
from tests.conftest import LOOPBACK
from tests.emulators.hostile import HostileServer

MB = 1024 * 1024
ROOT = Path(__file__).resolve().parents[2]


def loopback(**kwargs) -> OutboundPolicy:
    return OutboundPolicy(allowed_networks=parse_networks(LOOPBACK), **kwargs)


PEAK_SCRIPT = """
import json, sys, time, tracemalloc
from connectors.runtime.errors import ConnectorError
from connectors.runtime.http import OutboundClient, OutboundPolicy, parse_networks

policy = OutboundPolicy(allowed_networks=parse_networks(("127.0.0.0/8",)), max_response_bytes=2 * 1024 * 1024)
client = OutboundClient(policy)
client.start_step(time.monotonic() + 10)
tracemalloc.start()
started = time.monotonic()
try:
    client.get(sys.argv[1])
    caught = None
except ConnectorError as error:
    caught = error
peak = tracemalloc.get_traced_memory()[1]
print(json.dumps({"code": caught and caught.code.value, "message": caught and caught.message, "peak": peak,
                  "seconds": time.monotonic() - started}))
"""


def test_an_endless_body_is_cut_at_the_cap_without_buffering_past_it():
    """Measured in a fresh interpreter: tracemalloc counts every thread, and the suite's other threads (live
    servers, workers) allocate while this one reads."""
    with HostileServer("endless_body") as server:
        done = subprocess.run(
            [sys.executable, "-c", PEAK_SCRIPT, server.url], cwd=ROOT, capture_output=True, text=True, timeout=30
        )
    assert done.returncode == 0, done.stderr[-2000:]
    read = json.loads(done.stdout.strip().splitlines()[-1])
    assert read["code"] == ErrorCode.VENDOR_ERROR.value
    assert "more than 2,097,152 bytes" in read["message"]
    assert read["peak"] < 6 * MB  # the chunks read so far, never the endless rest
    assert read["seconds"] < 5


def test_the_cap_is_per_step_and_a_new_step_starts_afresh():
    with HostileServer("endless_body") as server:
        client = OutboundClient(loopback(max_response_bytes=MB))
        for _ in range(2):
            client.start_step(time.monotonic() + 10)
            with pytest.raises(ConnectorError, match="more than"):
                client.get(server.url)


@pytest.mark.parametrize("mode", ["drip_headers", "drip_body"])
def test_a_slow_drip_does_not_outlast_the_step(mode):
    """Each byte arrives well within the read timeout, yet the request ends at the step's deadline."""
    with HostileServer(mode) as server:
        client = OutboundClient(loopback())
        started = time.monotonic()
        client.start_step(started + 1.0)
        with pytest.raises(ConnectorError) as caught:
            client.get(server.url)
        elapsed = time.monotonic() - started
    assert caught.value.code is ErrorCode.TIMEOUT
    assert "time limit" in caught.value.message
    assert elapsed < 2.5


@pytest.mark.parametrize(
    "mode, said",
    [
        ("garbage", "not valid HTTP"),
        ("reset", "reset the connection"),
        ("huge_headers", "oversized or too many headers"),
        ("many_headers", "oversized or too many headers"),
    ],
)
def test_protocol_faults_are_the_vendors_error_not_a_refused_connection(mode, said):
    with HostileServer(mode) as server, pytest.raises(ConnectorError) as caught:
        OutboundClient(loopback()).get(server.url)
    assert caught.value.code is ErrorCode.VENDOR_ERROR, caught.value.message
    assert said in caught.value.message


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def webhook(url: str):
    return get_connector_class("webhook")({"url": url, "headers": {"X-API-Key": "k" * 12}}, policy=loopback())


def test_thirty_slow_drip_tests_leave_no_threads_or_sockets_behind():
    with HostileServer("drip_headers", interval=0.1) as server:
        time.sleep(0.2)
        threads_before, fds_before = threading.active_count(), open_fds()
        results: list = []

        def one_test():
            results.append(list(run_test(webhook(f"{server.url}/hook"), timeout=1.0)))

        testers = [threading.Thread(target=one_test) for _ in range(30)]
        started = time.monotonic()
        for tester in testers:
            tester.start()
        for tester in testers:
            tester.join(timeout=10)
        took = time.monotonic() - started
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and (
            threading.active_count() > threads_before or open_fds() > fds_before or not server.idle()
        ):
            time.sleep(0.1)
        threads_after, fds_after = threading.active_count(), open_fds()
    assert len(results) == 30 and all(r[0].status == FAILED and r[0].error["code"] == "timeout" for r in results)
    assert took < 5
    assert threads_after <= threads_before, (threads_before, threads_after)
    assert fds_after <= fds_before, (fds_before, fds_after)


def test_abort_from_another_thread_stops_a_request_that_has_no_deadline():
    """What the runner does to a step it abandons: the connector's sockets are shut and its thread ends."""
    with HostileServer("drip_body") as server:
        connector = webhook(f"{server.url}/hook")
        connector.http.read_timeout = 60
        connector.http.start_step(None)
        outcome: list = []
        worker = threading.Thread(target=lambda: outcome.append(connector.run_step(connector.steps[1])))
        worker.start()
        time.sleep(0.5)
        connector.abort()
        worker.join(timeout=2)
        assert not worker.is_alive()
        assert outcome[0].error["code"] == "timeout" and "ran out of time" in outcome[0].message
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and not server.idle():
            time.sleep(0.05)
        assert server.idle()


def test_fields_have_a_total_deadline():
    with HostileServer("drip_body") as server:
        policy = loopback(base_urls={"braze": server.url})
        connector = get_connector_class("braze")(
            {"rest_endpoint": "https://rest.iad-01.braze.com", "api_key": "a" * 36, "identifier_type": "external_id"},
            policy=policy,
        )
        started = time.monotonic()
        with pytest.raises(ConnectorError) as caught:
            connector.fields(timeout=1.0)
    assert caught.value.code is ErrorCode.TIMEOUT
    assert time.monotonic() - started < 2.5
