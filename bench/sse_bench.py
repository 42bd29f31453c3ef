"""50 concurrent SSE connection tests, each against one test alone, on both runtimes.

    python bench/sse_bench.py            # SQLite; BENCH_DATABASE_URL=postgres://... for PostgreSQL
                                         # BENCH_REDIS_URL (default redis://127.0.0.1:6379/14) for distributed

A local webhook receiver (bench/common.py, in its own process) answers each request after 200 ms, so a
webhook test (connectivity, then delivery) takes about 400 ms. The ideal for 50 at once is one test's
duration, measured in the same run and topology.

- embedded: one uvicorn process running the tests on its thread pool (what `make run` starts);
- distributed: two uvicorn processes (clients alternate between them), two Celery worker processes, Redis.

It prints the ratio to the ideal (target <= 1.5x) and the CPU of all server-side processes (web and
workers) summed per test (target <= 10 ms). Redis is shared with other users of the machine, so its CPU is
reported apart, from its own counters, as an upper bound.
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import serve_receiver, setup_django

from tests.sse import iter_events
from tests.topology import Web, Worker, process_env, redis_available

CONCURRENCY = 50
STEP_SECONDS = 0.2
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")


def one_test(url: str, headers: dict, body: dict) -> tuple[float, float, float, bool]:
    """(seconds to headers, to the first event, to `done`, success) of one streamed test."""
    started = time.perf_counter()
    first = None
    with requests.post(url, json=body, headers=headers, stream=True, timeout=60) as response:
        headers_at = time.perf_counter() - started
        for event in iter_events(response):
            if first is None:
                first = time.perf_counter() - started
            if event.type == "done":
                return headers_at, first, time.perf_counter() - started, event.data["success"]
    raise RuntimeError("the stream ended without done")


def redis_cpu_seconds() -> float:
    import redis

    info = redis.Redis.from_url(REDIS_URL).info("cpu")
    return info["used_cpu_user"] + info["used_cpu_sys"]


def burst(urls, headers, body, processes, ideal, label, *, with_redis: bool):
    results = []
    barrier = threading.Barrier(CONCURRENCY)

    def client(index):
        barrier.wait()
        results.append(one_test(urls[index % len(urls)], headers, body))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CONCURRENCY)]
    cpu_before = sum(p.cpu_seconds() for p in processes)
    redis_before = redis_cpu_seconds() if with_redis else 0
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    time.sleep(0.3)  # let workers finish their bookkeeping before reading CPU
    server_cpu = sum(p.cpu_seconds() for p in processes) - cpu_before
    headers_at = sorted(r[0] for r in results)
    firsts = sorted(r[1] for r in results)
    print(f"  -- {label}")
    print(f"  {CONCURRENCY} concurrent tests wall: {wall * 1000:7.0f} ms   ratio {wall / ideal:.2f}x (target <= 1.5x)")
    print(
        f"  time to response headers:  median {statistics.median(headers_at) * 1000:.0f} ms, "
        f"max {headers_at[-1] * 1000:.0f} ms"
    )
    print(
        f"  time to first event:       median {statistics.median(firsts) * 1000:.0f} ms, max {firsts[-1] * 1000:.0f} ms"
    )
    print(f"  all succeeded:             {all(r[3] for r in results)} ({len(results)} streams)")
    print(f"  server CPU per test:       {server_cpu / CONCURRENCY * 1000:.1f} ms (web + workers, target <= 10 ms)")
    if with_redis:
        print(
            f"  redis CPU per test:        <= {(redis_cpu_seconds() - redis_before) / CONCURRENCY * 1000:.1f} ms "
            "(shared)"
        )


def run(label, urls, headers, body, processes, *, with_redis=False):
    print(f"== {label}")
    for url in urls:
        one_test(url, headers, body)  # warm-up, every process
    ideal = statistics.median(one_test(urls[0], headers, body)[2] for _ in range(3))
    print(f"  one test alone (ideal):    {ideal * 1000:7.0f} ms")
    for name in ("cold (first burst)", "warm (second burst)"):
        burst(urls, headers, body, processes, ideal, name, with_redis=with_redis)


def main():
    env = setup_django("sse")
    from workspaces.services import workspace_bootstrap

    workspace, _user, token = workspace_bootstrap(name="SSE bench", email="sse@example.com")
    headers = {"Authorization": f"Bearer {token}", "X-Workspace-ID": str(workspace.pk)}
    context = multiprocessing.get_context("spawn")
    parent_end, child_end = context.Pipe()
    receiver = context.Process(target=serve_receiver, args=(STEP_SECONDS, child_end), daemon=True)
    receiver.start()
    receiver_url = f"http://127.0.0.1:{parent_end.recv()}"
    body = {"destination_type": "webhook", "config": {"url": f"{receiver_url}/hooks/bench"}}
    path = f"/api/v1/workspaces/{workspace.pk}/destinations/test"

    embedded = process_env(database=env["DATABASE_URL"], redis_url=None, CONNECTION_TEST_WORKERS=CONCURRENCY + 14)
    with Web(embedded) as web:
        run("embedded: one web process", [web.url + path], headers, body, [web])

    if not redis_available(REDIS_URL):
        print(f"== distributed: skipped, no Redis at {REDIS_URL}")
    else:
        distributed = process_env(database=env["DATABASE_URL"], redis_url=REDIS_URL, queue=f"bench-{uuid.uuid4().hex}")
        with (
            Web(distributed) as web1,
            Web(distributed) as web2,
            Worker(distributed, concurrency=32) as worker1,
            Worker(distributed, concurrency=32) as worker2,
        ):
            run(
                "distributed: two web processes, two workers, Redis",
                [web1.url + path, web2.url + path],
                headers,
                body,
                [web1, web2, worker1, worker2],
                with_redis=True,
            )
    receiver.terminate()


if __name__ == "__main__":
    main()
