"""List and get destinations through the real HTTP server, against a raw-SQL baseline in the same run.

    python bench/api_bench.py            # SQLite; BENCH_DATABASE_URL=postgres://... for PostgreSQL

Baseline: the same rows fetched with one raw SQL query and JSON-encoded, in this process (no HTTP).
Target: listing 1,000 within 3x of the baseline.
"""

from __future__ import annotations

import json
import sys
import tracemalloc
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ServerProcess, setup_django, timed

SIZES = (1_000, 10_000)


def seed(count: int):
    from destinations.models import Destination
    from workspaces.services import workspace_bootstrap

    workspace, user, token = workspace_bootstrap(name=f"Bench {count}", email=f"bench{count}@example.com")
    batch = []
    for i in range(count):
        destination = Destination(workspace=workspace, name=f"Hook {i}", destination_type="webhook", created_by=user)
        destination.store_config(
            {"url": f"https://hooks.example.com/{i}", "method": "POST", "headers": {"X-API-Key": f"secret-{i}"}}
        )
        batch.append(destination)
    Destination.objects.bulk_create(batch, batch_size=1000)
    return workspace, token, batch[count // 2].pk


def raw_baseline(workspace_id) -> bytes:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, workspace_id, connection_id, name, destination_type, config, status, status_error, "
            "created_by_id, created_at, updated_at FROM destinations_destination WHERE workspace_id = %s "
            "ORDER BY created_at, id",
            [workspace_id.hex if connection.vendor == "sqlite" else workspace_id],
        )
        columns = [c[0] for c in cursor.description]
        rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    return json.dumps(rows, default=str).encode()


def main():
    env = setup_django("api")
    seeded = {count: seed(count) for count in SIZES}
    print(f"{'case':<28}{'server':>12}{'baseline':>12}{'ratio':>8}")
    with ServerProcess(env) as server:
        session = requests.Session()
        for count, (workspace, token, one_id) in seeded.items():
            headers = {"Authorization": f"Bearer {token}", "X-Workspace-ID": str(workspace.pk)}
            base = f"{server.url}/api/v1/workspaces/{workspace.pk}/destinations"

            def list_all(base=base, headers=headers, count=count):
                response = session.get(base, headers=headers, timeout=60)
                assert response.status_code == 200 and len(response.json()) == count

            def get_one(base=base, headers=headers, one_id=one_id):
                assert session.get(f"{base}/{one_id}", headers=headers, timeout=10).status_code == 200

            baseline = timed(lambda workspace=workspace: raw_baseline(workspace.pk), repeat=7)
            tracemalloc.start()
            raw_baseline(workspace.pk)
            _, baseline_peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            listed = timed(list_all, repeat=7)
            got = timed(get_one, repeat=50)
            print(
                f"{f'list {count:,}':<28}{listed * 1000:>10.1f}ms{baseline * 1000:>10.1f}ms{listed / baseline:>7.2f}x"
            )
            print(f"{f'get 1 of {count:,}':<28}{got * 1000:>10.1f}ms{'':>12}{'':>8}")
            print(f"{'':<28}baseline peak {baseline_peak / 2**20:.1f} MiB (tracemalloc)")
        print(f"server peak RSS: {server.peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
