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

Two more figures, so the CPU can be read on any machine and the streaming judged:
- the server CPU of one authenticated API request (an empty destinations list), measured on the same
  server in the same run, and the CPU per test as a multiple of it;
- the floor: the CPU of one request to Django served by uvicorn with nothing of ours in it (no middleware,
  no DRF, one ORM query; bench/bare_django.py), and the CPU per test as a multiple of that;
- the milliseconds from the receiver answering the first step's request to the client receiving that
  step's event (target <= 50 ms; it includes the worker reading the answer, storing and publishing the
  event and the web process relaying it), alone and in the burst.
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bare_django import BareDjango
from common import serve_receiver, setup_django

from tests.sse import iter_events
from tests.topology import Web, Worker, process_env, redis_available

CONCURRENCY = 50
STEP_SECONDS = 0.2
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")


@dataclass
class Streamed:
    headers_at: float  # seconds from the request to the response headers
    first_at: float  # ... to the first event
    done_at: float  # ... to `done`
    success: bool
    first_event_lag: float  # seconds from the receiver's first answer to the first event arriving


def one_test(url: str, headers: dict, receiver_url: str) -> Streamed:
    """One streamed webhook test against its own receiver path."""
    path = f"/hooks/{uuid.uuid4().hex}"
    body = {"destination_type": "webhook", "config": {"url": receiver_url + path}}
    started = time.perf_counter()
    first = first_wall = None
    with requests.post(url, json=body, headers=headers, stream=True, timeout=60) as response:
        headers_at = time.perf_counter() - started
        for event in iter_events(response):
            if first is None:
                first, first_wall = time.perf_counter() - started, time.time()
            if event.type == "done":
                done_at, success = time.perf_counter() - started, event.data["success"]
                break
        else:
            raise RuntimeError("the stream ended without done")
    answered = requests.get(f"{receiver_url}/__answered", params={"path": path}, timeout=5).json()
    return Streamed(headers_at, first, done_at, success, first_wall - answered[0])


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def request_cpu(url: str, headers: dict, processes) -> float:
    """Server CPU seconds of one authenticated API request, over 200 sequential ones."""
    session = requests.Session()
    for _ in range(20):
        session.get(url, headers=headers, timeout=10).raise_for_status()
    before = sum(p.cpu_seconds() for p in processes)
    for _ in range(200):
        session.get(url, headers=headers, timeout=10)
    return (sum(p.cpu_seconds() for p in processes) - before) / 200


def redis_cpu_seconds() -> float:
    import redis

    info = redis.Redis.from_url(REDIS_URL).info("cpu")
    return info["used_cpu_user"] + info["used_cpu_sys"]


def burst(urls, headers, receiver_url, processes, ideal, label, *, request_cost: float, floor: float, with_redis: bool):
    results: list[Streamed] = []
    barrier = threading.Barrier(CONCURRENCY)

    def client(index):
        barrier.wait()
        results.append(one_test(urls[index % len(urls)], headers, receiver_url))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CONCURRENCY)]
    cpu_before = {id(p): p.cpu_seconds() for p in processes}
    redis_before = redis_cpu_seconds() if with_redis else 0
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    time.sleep(0.3)  # let workers finish their bookkeeping before reading CPU
    spent = {id(p): p.cpu_seconds() - cpu_before[id(p)] for p in processes}
    server_cpu = sum(spent.values()) / CONCURRENCY
    web_cpu = sum(spent[id(p)] for p in processes if isinstance(p, Web)) / CONCURRENCY
    headers_at = sorted(r.headers_at for r in results)
    firsts = sorted(r.first_at for r in results)
    lags = sorted(r.first_event_lag for r in results)
    print(f"  -- {label}")
    print(f"  {CONCURRENCY} concurrent tests wall: {wall * 1000:7.0f} ms   ratio {wall / ideal:.2f}x (target <= 1.5x)")
    print(f"  time to response headers:  median {ms(statistics.median(headers_at))}, max {ms(headers_at[-1])}")
    print(f"  time to first event:       median {ms(statistics.median(firsts))}, max {ms(firsts[-1])}")
    print(f"  step answered -> event:    median {ms(statistics.median(lags))}, max {ms(lags[-1])}")
    print(f"  all succeeded:             {all(r.success for r in results)} ({len(results)} streams)")
    print(
        f"  server CPU per test:       {server_cpu * 1000:.1f} ms (web + workers, target <= 10 ms) "
        f"= {server_cpu / request_cost:.1f} API requests = {server_cpu / floor:.1f} bare Django requests"
    )
    if web_cpu != server_cpu:
        print(f"  of which web / workers:    {web_cpu * 1000:.1f} ms / {(server_cpu - web_cpu) * 1000:.1f} ms")
    if with_redis:
        print(
            f"  redis CPU per test:        <= {(redis_cpu_seconds() - redis_before) / CONCURRENCY * 1000:.1f} ms "
            "(shared)"
        )


def run(label, urls, headers, receiver_url, processes, *, list_url, floor, with_redis=False):
    print(f"== {label}")
    for url in urls:
        one_test(url, headers, receiver_url)  # warm-up, every process
    alone = [one_test(urls[0], headers, receiver_url) for _ in range(5)]
    ideal = statistics.median(r.done_at for r in alone)
    request_cost = request_cpu(list_url, headers, processes)
    print(f"  one test alone (ideal):    {ideal * 1000:7.0f} ms")
    print(f"  step answered -> event:    median {ms(statistics.median(r.first_event_lag for r in alone))} alone")
    print(f"  one API request:           {request_cost * 1000:.1f} ms server CPU (an empty destinations list)")
    for name in ("cold (first burst)", "warm (second burst)"):
        burst(
            urls,
            headers,
            receiver_url,
            processes,
            ideal,
            name,
            request_cost=request_cost,
            floor=floor,
            with_redis=with_redis,
        )


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
    path = f"/api/v1/workspaces/{workspace.pk}/destinations/test"
    list_path = f"/api/v1/workspaces/{workspace.pk}/destinations"

    embedded = process_env(database=env["DATABASE_URL"], redis_url=None, CONNECTION_TEST_WORKERS=CONCURRENCY + 14)
    with BareDjango(embedded) as bare:
        plain, floor = (request_cpu(f"{bare.url}/{view}", {}, [bare]) for view in ("plain", "query"))
    print("== the floor: Django served by uvicorn, with nothing of ours (bench/bare_django.py)")
    print(f"  one request:               {plain * 1000:.1f} ms server CPU; with one ORM query {floor * 1000:.1f} ms")
    with Web(embedded) as web:
        run(
            "embedded: one web process",
            [web.url + path],
            headers,
            receiver_url,
            [web],
            list_url=web.url + list_path,
            floor=floor,
        )

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
                receiver_url,
                [web1, web2, worker1, worker2],
                list_url=web1.url + list_path,
                floor=floor,
                with_redis=True,
            )
    receiver.terminate()


if __name__ == "__main__":
    main()
