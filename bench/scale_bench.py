"""Distributed runtime: tests per second with one worker process, then two; and SIGKILL -> `interrupted`.

    python bench/scale_bench.py          # SQLite; BENCH_DATABASE_URL=postgres://... for PostgreSQL
                                         # BENCH_REDIS_URL (default redis://127.0.0.1:6379/14)

Each test is a webhook test against a local receiver answering after 200 ms (two steps, ~400 ms). Every
worker runs WORKER_THREADS tests at once, so one worker's ceiling is WORKER_THREADS / 0.4 s; TESTS tests are
streamed through two web processes by CLIENTS concurrent clients, so the workers are the bottleneck. It
prints tests/second for 1 and 2 workers and the scaling factor (ideal 2.0).

Then a test is started against a receiver that never answers, its worker is killed with SIGKILL, and it
prints the seconds until the run's `done` event says `interrupted` (with the default heartbeat, staleness
and reaper settings: CONNECTION_TEST_HEARTBEAT_SECONDS, CONNECTION_TEST_STALE_SECONDS,
CONNECTION_TEST_REAP_INTERVAL_SECONDS; the surviving worker runs celery beat).
"""

from __future__ import annotations

import multiprocessing
import os
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

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
WORKER_THREADS = int(os.environ.get("BENCH_WORKER_THREADS", "8"))
TESTS = int(os.environ.get("BENCH_TESTS", "120"))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "48"))


def receiver(delay: float) -> tuple[str, multiprocessing.Process]:
    context = multiprocessing.get_context("spawn")
    parent_end, child_end = context.Pipe()
    process = context.Process(target=serve_receiver, args=(delay, child_end), daemon=True)
    process.start()
    return f"http://127.0.0.1:{parent_end.recv()}", process


def stream(url, headers, body) -> dict:
    with requests.post(url, json=body, headers=headers, stream=True, timeout=120) as response:
        for event in iter_events(response):
            if event.type == "done":
                return event.data
    raise RuntimeError("the stream ended without done")


def throughput(urls, headers, body) -> float:
    remaining = list(range(TESTS))
    lock = threading.Lock()
    failures = []

    def client(index):
        while True:
            with lock:
                if not remaining:
                    return
                remaining.pop()
            if not stream(urls[index % len(urls)], headers, body)["success"]:
                failures.append(index)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    assert not failures, f"{len(failures)} tests failed"
    return TESTS / elapsed


def main():
    if not redis_available(REDIS_URL):
        sys.exit(f"No Redis at {REDIS_URL}")
    env = setup_django("scale")
    from workspaces.services import workspace_bootstrap

    workspace, _user, token = workspace_bootstrap(name="Scale bench", email="scale@example.com")
    headers = {"Authorization": f"Bearer {token}", "X-Workspace-ID": str(workspace.pk)}
    path = f"/api/v1/workspaces/{workspace.pk}/destinations/test"
    fast_url, fast = receiver(0.2)
    body = {"destination_type": "webhook", "config": {"url": f"{fast_url}/hooks/bench"}}
    distributed = process_env(database=env["DATABASE_URL"], redis_url=REDIS_URL, queue=f"bench-{uuid.uuid4().hex}")

    with Web(distributed) as web1, Web(distributed) as web2:
        urls = [web1.url + path, web2.url + path]
        rates = []
        workers = []
        try:
            for count in (1, 2):
                workers.append(Worker(distributed, concurrency=WORKER_THREADS).start())
                for url in urls:
                    stream(url, headers, body)  # warm-up
                rate = throughput(urls, headers, body)
                rates.append(rate)
                ceiling = count * WORKER_THREADS / 0.4
                print(f"{count} worker(s) x {WORKER_THREADS} threads: {rate:6.1f} tests/s (ceiling ~{ceiling:.0f})")
        finally:
            for worker in workers:
                worker.stop()
        print(f"scaling factor 1 -> 2 workers: {rates[1] / rates[0]:.2f}x (ideal 2.0)")

        stuck_url, stuck = receiver(3600)  # never answers while the worker lives
        doomed = Worker(distributed, concurrency=2).start()
        survivor = None
        try:
            stuck_body = {"destination_type": "webhook", "config": {"url": f"{stuck_url}/hooks/stuck"}}
            done: dict = {}
            watcher = threading.Thread(target=lambda: done.update(stream(urls[1], headers, stuck_body)))
            watcher.start()
            time.sleep(2)  # the worker is inside the first step
            doomed.kill()
            killed = time.perf_counter()
            survivor = Worker(distributed, concurrency=2, beat=True).start()
            watcher.join(180)
            seconds = time.perf_counter() - killed
            print(f"SIGKILL -> `interrupted` done event: {seconds:.1f} s (error_code={done.get('error_code')!r})")
        finally:
            if survivor is not None:
                survivor.stop()
            stuck.terminate()
    fast.terminate()


if __name__ == "__main__":
    main()
