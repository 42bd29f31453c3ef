"""A test that ends leaves nothing behind: however a hostile vendor drips its answer (TLS handshake, headers,
a body with or without a length), the connector's requests stop at the deadline, and its threads and sockets
are gone within seconds of the run's end. The drip server runs in a process of its own, so the threads and
descriptors counted here are the client's alone."""

from __future__ import annotations

import os
import socket
import threading
import time
from contextlib import ExitStack

import pytest

from connectors.runtime.base import FAILED
from connectors.runtime.errors import ConnectorError, ErrorCode
from connectors.runtime.http import OutboundClient, OutboundPolicy, parse_networks
from connectors.runtime.registry import get_connector_class
from connectors.runtime.runner import run_test
from tests.conftest import LOOPBACK
from tests.emulators.drip import DripServer

# (scheme, mode): every stage a request can be held in.
DRIPS = [
    ("http", "headers"),
    ("http", "body"),
    ("http", "body_until_close"),
    ("https", "handshake"),
    ("https", "headers"),
    ("https", "body_until_close"),
]
SETTLE = 3.0  # seconds the threads and descriptors have to be back at their baseline after the runs end


@pytest.fixture(scope="module")
def server_pem(test_ca, tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("drip") / "server.pem"
    test_ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(path))
    return str(path)


def drip_server(scheme: str, mode: str, server_pem: str, *, interval: float = 2.0) -> DripServer:
    return DripServer(mode, interval=interval, cert_pem=server_pem if scheme == "https" else None)


def loopback(ca_bundle: str) -> OutboundPolicy:
    return OutboundPolicy(allowed_networks=parse_networks(LOOPBACK), ca_bundle=ca_bundle)


def webhook(url: str, ca_bundle: str):
    return get_connector_class("webhook")({"url": f"{url}/hook"}, policy=loopback(ca_bundle))


def in_thread(call) -> tuple[threading.Thread, list[ConnectorError]]:
    """Run `call` in a thread of its own (a request held for ever must fail the test, not hang it); the
    ConnectorError it raises lands in the list."""
    errors: list[ConnectorError] = []

    def run() -> None:
        try:
            call()
        except ConnectorError as error:
            errors.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, errors


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def settled(threads: int, fds: int) -> tuple[int, int]:
    """The thread and descriptor counts once they are back at (or below) the baseline, or after SETTLE."""
    deadline = time.monotonic() + SETTLE
    while time.monotonic() < deadline and (threading.active_count() > threads or open_fds() > fds):
        time.sleep(0.05)
    return threading.active_count(), open_fds()


def test_thirty_drip_tests_leave_threads_and_descriptors_at_their_baseline(server_pem, ca_bundle):
    """A byte every 2 s keeps every read alive (the read timeout is longer); only the deadline ends them."""
    with ExitStack() as stack:
        servers = [stack.enter_context(drip_server(scheme, mode, server_pem)) for scheme, mode in DRIPS]
        time.sleep(0.2)
        threads_before, fds_before = threading.active_count(), open_fds()
        results: dict[int, list] = {}

        def one_test(number: int, server: DripServer) -> None:
            results[number] = list(run_test(webhook(server.url, ca_bundle), timeout=4.0))

        testers = [threading.Thread(target=one_test, args=(n, servers[n % len(servers)])) for n in range(30)]
        started = time.monotonic()
        for tester in testers:
            tester.start()
        for tester in testers:
            tester.join(timeout=15)
        took = time.monotonic() - started
        threads_after, fds_after = settled(threads_before, fds_before)
        stray = [t.name for t in threading.enumerate() if t.name.startswith("connector-")]
    assert len(results) == 30 and took < 6, took
    for number, steps in results.items():
        ended = next(step for step in steps if step.status == FAILED)
        assert ended.error["code"] == "timeout", (DRIPS[number % len(DRIPS)], ended.message)
    assert not stray
    assert (threads_after, fds_after) <= (threads_before, fds_before), (
        f"threads {threads_before} -> {threads_after}, descriptors {fds_before} -> {fds_after}"
    )


@pytest.mark.parametrize("scheme, mode", DRIPS)
def test_a_drip_at_any_stage_ends_at_the_step_deadline_whatever_the_timeouts(scheme, mode, server_pem, ca_bundle):
    """Connect and read timeouts far beyond the step: the step's deadline alone ends the request."""
    with drip_server(scheme, mode, server_pem, interval=0.2) as server:
        client = OutboundClient(loopback(ca_bundle), connect_timeout=60)
        client.read_timeout = 60
        started = time.monotonic()
        client.start_step(started + 1.5)
        worker, errors = in_thread(lambda: client.post(f"{server.url}/hook", data=b"{}"))
        worker.join(timeout=2.5)
        assert not worker.is_alive(), "the request went on past the step's deadline"
    assert errors[0].code is ErrorCode.TIMEOUT, errors[0].message


@pytest.mark.parametrize("scheme, mode", [m for m in DRIPS if m[1] != "handshake"])
def test_abort_stops_a_request_that_has_no_deadline(scheme, mode, server_pem, ca_bundle):
    """What the runner does to a test it gives up on, from another thread, at any stage of the answer."""
    with drip_server(scheme, mode, server_pem, interval=0.2) as server:
        client = OutboundClient(loopback(ca_bundle))
        client.read_timeout = 60
        client.start_step(None)
        worker, errors = in_thread(lambda: client.post(f"{server.url}/hook", data=b"{}"))
        time.sleep(0.6)
        client.abort()
        worker.join(timeout=2)
        assert not worker.is_alive(), "the request went on after abort()"
    assert errors[0].code is ErrorCode.TIMEOUT and "ran out of time" in errors[0].message


def slow_resolver(released: threading.Event):
    """A resolver that answers (with a failure) only when the test releases it."""

    def getaddrinfo(host, *args, **kwargs):
        released.wait(10)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    return getaddrinfo


def test_a_dns_lookup_is_waited_for_only_until_the_step_deadline(monkeypatch, policy):
    """getaddrinfo cannot be interrupted: a resolver that takes its time must not hold the step past its end."""
    released = threading.Event()
    monkeypatch.setattr(socket, "getaddrinfo", slow_resolver(released))
    client = OutboundClient(policy)
    client.start_step(time.monotonic() + 1.0)
    worker, errors = in_thread(lambda: client.get("https://slow-dns.example.com/"))
    try:
        worker.join(timeout=1.5)
        assert not worker.is_alive(), "the request went on waiting for DNS past the step's deadline"
    finally:
        released.set()
    assert errors[0].code is ErrorCode.TIMEOUT, errors[0].message


def test_a_dns_lookup_is_given_up_on_abort(monkeypatch, policy):
    released = threading.Event()
    monkeypatch.setattr(socket, "getaddrinfo", slow_resolver(released))
    client = OutboundClient(policy)
    client.start_step(None)
    worker, errors = in_thread(lambda: client.get("https://slow-dns.example.com/"))
    try:
        time.sleep(0.3)
        client.abort()
        worker.join(timeout=1)
        assert not worker.is_alive(), "the request went on waiting for DNS after abort()"
    finally:
        released.set()
    assert errors[0].code is ErrorCode.TIMEOUT and "ran out of time" in errors[0].message


def test_a_test_whose_results_are_no_longer_read_is_aborted(server_pem, ca_bundle):
    """The caller stopped reading (it closed the generator): the connector's request stops, long before its
    deadline, and its thread ends."""
    with drip_server("http", "body", server_pem, interval=0.2) as server:
        threads_before = threading.active_count()
        results = run_test(webhook(server.url, ca_bundle), timeout=60)
        assert next(results).name == "connectivity"
        time.sleep(0.3)  # the delivery step is reading the drip
        results.close()
        deadline = time.monotonic() + SETTLE
        while time.monotonic() < deadline and threading.active_count() > threads_before:
            time.sleep(0.05)
        assert threading.active_count() <= threads_before
