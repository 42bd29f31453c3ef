"""50 concurrent SSE connection tests through the real ASGI server, against one test alone.

    python bench/sse_bench.py            # SQLite; BENCH_DATABASE_URL=postgres://... for PostgreSQL

A local webhook receiver (bench/common.py, in its own process) answers each request after 200 ms, so a
webhook test (connectivity, then delivery) takes about 400 ms. The ideal for 50 at once is one test's
duration, measured in the same run. Target: the 50 within 1.5x of the ideal.
"""

from __future__ import annotations

import multiprocessing
import statistics
import sys
import threading
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import ServerProcess, serve_receiver, setup_django

from tests.sse import iter_events

CONCURRENCY = 50
HEADERS_AT: list[float] = []
STEP_SECONDS = 0.2


def one_test(url: str, headers: dict, body: dict) -> tuple[float, float, bool]:
    """(seconds to the first event, seconds to `done`, success) of one streamed test."""
    started = time.perf_counter()
    first = None
    with requests.post(url, json=body, headers=headers, stream=True, timeout=60) as response:
        HEADERS_AT.append(time.perf_counter() - started)
        for event in iter_events(response):
            if first is None:
                first = time.perf_counter() - started
            if event.type == "done":
                return first, time.perf_counter() - started, event.data["success"]
    raise RuntimeError("the stream ended without done")


def burst(url, headers, body, server, ideal, label):
    results = []
    barrier = threading.Barrier(CONCURRENCY)

    def worker():
        barrier.wait()
        results.append(one_test(url, headers, body))

    threads = [threading.Thread(target=worker) for _ in range(CONCURRENCY)]
    cpu_before = server.cpu_seconds()
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    server_cpu = server.cpu_seconds() - cpu_before
    firsts = sorted(r[0] for r in results)
    headers_at = sorted(HEADERS_AT[-CONCURRENCY:])
    print(f"-- {label}")
    print(f"{CONCURRENCY} concurrent tests wall:   {wall * 1000:7.0f} ms   ratio {wall / ideal:.2f}x (target <= 1.5x)")
    print(
        f"time to first event:         median {statistics.median(firsts) * 1000:.0f} ms, max {firsts[-1] * 1000:.0f} ms"
    )
    print(
        f"time to response headers:    median {statistics.median(headers_at) * 1000:.0f} ms, "
        f"max {headers_at[-1] * 1000:.0f} ms"
    )
    print(f"all succeeded:               {all(r[2] for r in results)} ({len(results)} streams)")
    print(f"server CPU per test:         {server_cpu / CONCURRENCY * 1000:.1f} ms")


def main():
    env = setup_django("sse")
    env["CONNECTION_TEST_WORKERS"] = str(CONCURRENCY + 14)
    from workspaces.services import workspace_bootstrap

    workspace, _user, token = workspace_bootstrap(name="SSE bench", email="sse@example.com")
    headers = {"Authorization": f"Bearer {token}", "X-Workspace-ID": str(workspace.pk)}
    context = multiprocessing.get_context("spawn")
    parent_end, child_end = context.Pipe()
    receiver = context.Process(target=serve_receiver, args=(STEP_SECONDS, child_end), daemon=True)
    receiver.start()
    receiver_url = f"http://127.0.0.1:{parent_end.recv()}"
    with ServerProcess(env) as server:
        url = f"{server.url}/api/v1/workspaces/{workspace.pk}/destinations/test"
        body = {"destination_type": "webhook", "config": {"url": f"{receiver_url}/hooks/bench"}}
        one_test(url, headers, body)  # warm-up
        ideal = statistics.median(one_test(url, headers, body)[1] for _ in range(3))
        print(f"one test alone (ideal):      {ideal * 1000:7.0f} ms")

        for label in ("cold (first burst)", "warm (second burst)"):
            burst(url, headers, body, server, ideal, label)
        print(f"server peak RSS:             {server.peak_rss_mib():.0f} MiB")
    receiver.terminate()


if __name__ == "__main__":
    main()
