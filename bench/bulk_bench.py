"""Benchmark of the bulk connection test (`bulk_test`), as `python bench/bulk_bench.py`.

Seeds webhook destinations pointed at a local receiver (an asyncio HTTP server in its own process, so it
does not share this process's GIL) that answers EVERY request after a delay (default 100 ms). A webhook
test makes two requests (HEAD for connectivity, POST for delivery), so one test takes a little over 2 x the
delay.

It measures one test's duration (median of a few, sequential), then tests N destinations at a concurrency C
(default N=200 and N=1000, C=50) and prints, for each N: the wall time against the ideal
(N x one test / C), peak memory (max RSS) and the SQL queries per destination (which must not grow with N).

Database: a throwaway SQLite file, or BENCH_DATABASE_URL (flushed first).
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import os
import resource
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common

TARGET_RATIO = 1.3


def setup_django(concurrency: int) -> str:
    # PostgreSQL: a pool with room for every worker (each holds a connection while it tests a destination).
    os.environ.setdefault("DB_POOL_MAX_SIZE", str(concurrency + 10))
    env = common.setup_django("bulk")
    return env["DATABASE_URL"].split("://", 1)[0]


class QueryCounter:
    """Counts SQL statements on every connection, in every thread (workers open their own)."""

    def __init__(self):
        self.count = 0
        self.lock = threading.Lock()

    def __call__(self, execute, sql, params, many, context):
        with self.lock:
            self.count += 1
        return execute(sql, params, many, context)

    def install(self) -> None:
        from django.db import connection
        from django.db.backends.signals import connection_created

        def on_created(sender, connection, **kwargs):
            if self not in connection.execute_wrappers:
                connection.execute_wrappers.append(self)

        self._on_created = on_created
        connection_created.connect(on_created, weak=False)
        connection.ensure_connection()
        on_created(None, connection)


def seed(n: int, url: str, label: str):
    from destinations.models import Destination
    from workspaces.models import Workspace

    workspace = Workspace.objects.create(name=f"bench {label} {time.time_ns()}")
    destinations = []
    for i in range(n):
        destination = Destination(workspace=workspace, name=f"Bench webhook {i}", destination_type="webhook")
        destination.store_config(
            {"url": f"{url}/hooks/bench-{i}", "method": "POST", "headers": {"X-API-Key": f"bench-secret-{i}"}}
        )
        destinations.append(destination)
    Destination.objects.bulk_create(destinations, batch_size=500)
    return workspace


def max_rss_mib() -> float:
    # ru_maxrss is in KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def one_test_ms(url: str, repeats: int) -> float:
    from destinations.jobs import pool as bulk

    workspace = seed(repeats, url, "single")
    durations = []
    for destination_id in workspace.destinations.values_list("pk", flat=True):
        report = bulk.bulk_test([destination_id], concurrency=1)
        assert report.all_passed, report
        durations.append(report.wall_ms)
    workspace.delete()
    return statistics.median(durations)


def run(n: int, concurrency: int, url: str, single_ms: float, counter: QueryCounter) -> dict:
    from django.db import connection

    from destinations.jobs import pool as bulk
    from destinations.jobs import selection as choosing

    workspace = seed(n, url, f"n={n}")
    selection = choosing.destinations_select(workspaces=[str(workspace.pk)])
    connection.close()  # the workers open their own; count theirs from a clean start
    before = counter.count
    cpu_before = time.process_time()
    report = bulk.bulk_test(selection, concurrency=concurrency)
    cpu_s = time.process_time() - cpu_before
    queries = counter.count - before
    assert len(report.results) == n, report
    assert not report.failed, report.failed[:3]
    ideal_ms = n * single_ms / concurrency
    workspace.delete()
    return {
        "n": n,
        "wall_s": report.wall_ms / 1000,
        "ideal_s": ideal_ms / 1000,
        "ratio": report.wall_ms / ideal_ms,
        "queries_per_destination": queries / n,
        "cpu_ms_per_destination": cpu_s * 1000 / n,
        "max_rss_mib": max_rss_mib(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, action="append", help="Destinations per run (repeatable; default 200, 1000).")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--delay-ms", type=int, default=100, help="The receiver's delay for every request.")
    parser.add_argument("--single-repeats", type=int, default=7)
    args = parser.parse_args()
    sizes = args.n or [200, 1000]

    context = multiprocessing.get_context("spawn")
    parent_end, child_end = context.Pipe()
    receiver = context.Process(target=common.serve_receiver, args=(args.delay_ms / 1000, child_end), daemon=True)
    receiver.start()
    try:
        port = parent_end.recv()
        url = f"http://127.0.0.1:{port}"
        vendor = setup_django(args.concurrency)
        counter = QueryCounter()
        counter.install()
        rss_start = max_rss_mib()
        single_ms = one_test_ms(url, args.single_repeats)
        print(
            f"database: {vendor}; receiver delays every request {args.delay_ms} ms "
            f"(a webhook test = HEAD + POST); concurrency {args.concurrency}"
        )
        print(f"one test, measured alone: {single_ms:.0f} ms (median of {args.single_repeats})")
        print(f"max RSS before the runs: {rss_start:.0f} MiB")
        print()
        header = (
            f"{'N':>6}  {'wall s':>7}  {'ideal s':>7}  {'ratio':>6}  {'queries/dest':>12}  "
            f"{'CPU ms/dest':>11}  {'max RSS MiB':>11}"
        )
        print(header)
        print("-" * len(header))
        rows = []
        for n in sizes:
            row = run(n, args.concurrency, url, single_ms, counter)
            rows.append(row)
            print(
                f"{row['n']:>6}  {row['wall_s']:>7.2f}  {row['ideal_s']:>7.2f}  {row['ratio']:>5.2f}x  "
                f"{row['queries_per_destination']:>12.2f}  {row['cpu_ms_per_destination']:>11.1f}  "
                f"{row['max_rss_mib']:>11.0f}"
            )
        print()
        per_dest = [row["queries_per_destination"] for row in rows]
        grows = any(later > earlier + 0.01 for earlier, later in itertools.pairwise(per_dest))
        target = rows[-1]
        print(
            f"queries per destination {'GROW' if grows else 'do not grow'} with N "
            f"({', '.join(f'{q:.2f}' for q in per_dest)})"
        )
        print(
            f"N={target['n']}: wall/ideal {target['ratio']:.2f}x, target <= {TARGET_RATIO}x: "
            f"{'met' if target['ratio'] <= TARGET_RATIO else 'MISSED'} "
            f"(main-process CPU {target['cpu_ms_per_destination']:.1f} ms per destination on "
            f"{os.cpu_count()} cores; the GIL serialises it)"
        )
        return 1 if grows else 0
    finally:
        receiver.terminate()
        receiver.join(5)


if __name__ == "__main__":
    sys.exit(main())
