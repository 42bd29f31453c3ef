"""Fleet scale (issue 24): every operation that must stay fast and bounded, at a fleet of N and then 2N.

    python bench/fleet_bench.py                  # the default fleet, then twice it (long: see the flags)
    python bench/fleet_bench.py --scale 0.01     # a quick run: 1,000 destinations, 20,000 runs per size

PostgreSQL only: it creates (and at the end drops) its own database, BENCH_DATABASE_URL (default
postgres://postgres@127.0.0.1:5432/fleet_bench), and uses Redis (BENCH_REDIS_URL, default
redis://127.0.0.1:6379/13) as the distributed runtime's broker, so a scheduler tick or a job queues its
tests there and nothing runs them: what is measured is the web and scheduler side, never a vendor call.

The fleet at --scale 1 (N) is seeded with bulk SQL: 1,000 workspaces and 100,000 destinations (10% in error,
10% BigQuery and 10% Snowflake with real RSA keys, 0.5% with their own check interval), half of them in one
big workspace; 20 finished test runs per destination over the last 60 days (2 M), 3 stored events per run
(6 M), an audit row per run and per destination (2.1 M); one much-tested destination with 50,000 runs and
history entries; a job workspace of 10,000 destinations. 2N adds the same again (the big workspace and the
much-tested destination double; the job workspace stays 10,000).

For each operation it prints the median time (calls slower than --slow-seconds are timed once), the SQL
queries of one call and the peak memory (`py`: the tracemalloc peak of one more call; `rss`, for calls slower
than --traced-seconds: how far the process's resident high-water mark rose during the call, after giving
freed memory back, a lower bound), then the issue's target with met/MISSED; at 2N, "no growth" compares
with N. API and admin pages go through Django's test client in this process. The purge is `manage.py
purge_test_runs` in a subprocess, its peak RSS from wait4, killed at --purge-memory-mb or --purge-timeout;
once it deletes runs (not only their events), an API DELETE of a destination whose runs it is deleting is
sent, and its answer and wait are reported.
--purge-runs caps how many runs it is given (by choosing --older-than-days), so a run stays practical.

The only internal functions called are the due query and the scheduler tick (DUE_QUERY, SCHEDULER_TICK).
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import importlib
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import common
from bulk_bench import QueryCounter

from tests.topology import redis_available

DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/fleet_bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
LIBC = ctypes.CDLL("libc.so.6")

# The only internal functions this bench calls (everything else goes through URLs, a management command and
# the models). destinations/ is being split into packages: when they move, re-point these two lines.
DUE_QUERY = "destinations.schedule.health_checks:due_destinations"
SCHEDULER_TICK = "destinations.schedule.tick:scheduler_tick"


def internal(path: str):
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


# --- the fleet -------------------------------------------------------------------------------------------

RUNS_PER_DESTINATION = 20  # every 3 days over 60 days: run g is 3g to 3g+3 days old
RUN_DAYS = 60
MUCH_TESTED_DAYS = 25
EVENTS_PER_RUN = 3
STEPS_PASSED = [
    {"name": "connectivity", "status": "passed", "duration_ms": 120, "message": "Reached the endpoint."},
    {"name": "authentication", "status": "passed", "duration_ms": 240, "message": "The credentials were accepted."},
    {"name": "delivery", "status": "passed", "duration_ms": 410, "message": "A test record was accepted."},
]
STEPS_FAILED = [
    STEPS_PASSED[0],
    {
        "name": "authentication",
        "status": "failed",
        "duration_ms": 230,
        "message": "The endpoint answered 401.",
        "error": {"code": "auth_invalid", "message": "The API key was refused.", "remediation": "Paste a new key."},
    },
    {"name": "delivery", "status": "skipped", "duration_ms": 0, "message": "Skipped: an earlier step failed."},
]


def rsa_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def type_configs() -> dict[str, dict]:
    """A valid config per type seeded; the key types make a stored config's re-validation cost what it costs."""
    service_account = {
        "type": "service_account",
        "project_id": "fleet-data",
        "private_key_id": uuid.uuid4().hex,
        "private_key": rsa_pem(),
        "client_email": "loader@fleet-data.iam.gserviceaccount.com",
        "client_id": "104" + uuid.uuid4().hex[:18],
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    return {
        "webhook": {"url": "http://127.0.0.1:9/hooks/fleet", "method": "POST", "headers": {"X-API-Key": "fleet-key"}},
        "bigquery": {
            "service_account_json": json.dumps(service_account),
            "project_id": "fleet-data",
            "dataset": "crm",
            "table": "customers",
            "location": "US",
        },
        "snowflake": {
            "account": "fleetorg-fleetaccount",
            "user": "loader",
            "private_key": rsa_pem(),
            "role": "loader_role",
            "warehouse": "compute_wh",
            "database": "analytics",
            "schema": "public",
            "table": "customers",
        },
    }


@dataclass
class Fleet:
    scale: float
    big_share: float
    tables: dict = field(default_factory=dict)
    stored: dict = field(default_factory=dict)  # type -> (masked config JSON, encrypted secrets, validated mark)
    slices: int = 0

    @property
    def workspaces(self) -> int:
        return max(2, round(1000 * self.scale))

    @property
    def destinations(self) -> int:
        return max(20, round(100_000 * self.scale))

    @property
    def much_tested_runs(self) -> int:
        return max(50, round(50_000 * self.scale))

    @property
    def job_size(self) -> int:
        return max(20, round(10_000 * self.scale))

    @property
    def due(self) -> int:
        return max(8, round(4_000 * self.scale))

    def setup(self) -> None:
        from django.contrib.auth import get_user_model

        from connectors.runtime.registry import get_connector_class
        from destinations.models import AuditEvent, Destination, TestRun, TestRunEvent
        from destinations.models.destinations import config_validation_mark, stored_config_digest
        from workspaces.models import Workspace
        from workspaces.services import workspace_bootstrap

        self.tables = {
            "workspace": Workspace._meta.db_table,
            "destination": Destination._meta.db_table,
            "run": TestRun._meta.db_table,
            "event": TestRunEvent._meta.db_table,
            "audit": AuditEvent._meta.db_table,
        }
        secrets_field = Destination._meta.get_field("secrets")
        configs = type_configs()
        for kind, config in configs.items():
            errors = get_connector_class(kind).validate_config(config)
            assert not errors, f"the seeded {kind} config does not validate: {errors}"
            destination = Destination(destination_type=kind)
            destination.store_config(config)
            # A fleet in service: each config validated at its last check (validated_config_mark), by this release.
            mark = config_validation_mark(stored_config_digest(destination), kind)
            self.stored[kind] = (
                json.dumps(destination.config),
                secrets_field.get_prep_value(destination.secrets),
                mark,
            )
        self.big, _user, big_token = workspace_bootstrap(name="Fleet big", email="fleet@example.com")
        self.jobs_ws, _user, jobs_token = workspace_bootstrap(name="Fleet jobs", email="fleet@example.com")
        self.api = {self.big.pk: big_token, self.jobs_ws.pk: jobs_token}
        self.admin = get_user_model().objects.create_superuser("fleet-admin", "fleet-admin@example.com", "x")
        self.much_tested = Destination(workspace=self.big, name="Much tested", destination_type="webhook")
        self.much_tested.store_config(configs["webhook"])
        self.much_tested.save()
        self._destinations("jobs", self.job_size, workspaces=None, big=self.jobs_ws.pk, big_count=self.job_size)

    def grow(self) -> None:
        """One more slice of the fleet: N more destinations with their runs, events and history."""
        self.slices += 1
        label = f"s{self.slices}"
        table = self.tables["workspace"]
        self.sql(
            f"INSERT INTO {table} (id, name, created_at) "
            "SELECT gen_random_uuid(), format('Fleet %%s-%%s', %s::text, lpad(g::text, 6, '0')), now() "
            "FROM generate_series(1, %s) g",
            [label, self.workspaces],
        )
        big_count = round(self.destinations * self.big_share)
        self._destinations(
            label, self.destinations, workspaces=f"Fleet {label}-%", big=self.big.pk, big_count=big_count
        )
        self._runs(f"Destination {label}-%", with_history=True)
        self._much_tested_runs()
        self.settle()

    def replace_purged(self, older_than_days: int) -> None:
        """Put back the runs (and their events) a purge took, so the next size starts from a whole fleet."""
        self._runs("Destination s%", with_history=False, older_than_days=older_than_days)
        self.settle()

    def settle(self) -> None:
        """VACUUM ANALYZE, as autovacuum leaves a table some time after a bulk insert: statistics, and a
        visibility map so that index-only scans read no row (measured now, not while autovacuum runs)."""
        self.sql("VACUUM ANALYZE")

    def sql(self, statement: str, params=()) -> int:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(statement, params)
            return cursor.rowcount

    def count(self, name: str, where: str = "", params=()) -> int:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM {self.tables[name]} {where}", params)
            return cursor.fetchone()[0]

    def _destinations(self, label, count, *, workspaces, big, big_count) -> None:
        """`count` destinations named `Destination <label>-<n>`: the first `big_count` in `big`, the others
        round-robin over the workspaces named like `workspaces`."""
        webhook, bigquery, snowflake = (self.stored[kind] for kind in ("webhook", "bigquery", "snowflake"))
        self.sql(
            f"""
            WITH w AS (SELECT coalesce(array_agg(id ORDER BY name), '{{}}') AS ids FROM {self.tables["workspace"]}
                       WHERE name LIKE %(pattern)s)
            INSERT INTO {self.tables["destination"]} (id, workspace_id, connection_id, name, destination_type, config,
                secrets, status, status_error, created_by_id, created_at, updated_at, last_tested_at,
                check_interval_minutes, health_check_due_at, credential_expiries, validated_config_mark)
            SELECT gen_random_uuid(),
                   CASE WHEN g <= %(big_count)s THEN %(big)s::uuid ELSE w.ids[1 + g %% array_length(w.ids, 1)] END,
                   NULL, format('Destination %%s-%%s', %(label)s::text, g), t.kind, t.config::jsonb, t.secrets,
                   CASE WHEN (g / 10) %% 10 = 3 THEN 'error' ELSE 'connected' END,
                   CASE WHEN (g / 10) %% 10 = 3 THEN 'The endpoint answered 401: paste a new API key.' ELSE '' END,
                   NULL, c.at, c.at, now() - random() * interval '12 hours',
                   CASE WHEN g %% 200 = 7 THEN (ARRAY[60, 120, 360, 720, 2880])[1 + (g / 200) %% 5] END, NULL,
                   '[]'::jsonb, t.mark
            FROM w, generate_series(1, %(count)s) g
            -- g makes the lateral per row: uncorrelated, it is evaluated once and every destination of the
            -- statement would share one created_at, which no real fleet does (auto_now_add, microseconds).
            CROSS JOIN LATERAL (SELECT now() - interval '400 days' * random() - g * interval '1 microsecond'
                                AS at) c
            CROSS JOIN LATERAL (
                SELECT CASE g %% 10 WHEN 0 THEN 'bigquery' WHEN 1 THEN 'snowflake' ELSE 'webhook' END AS kind,
                       CASE g %% 10 WHEN 0 THEN %(bq_config)s WHEN 1 THEN %(sf_config)s ELSE %(wh_config)s END
                           AS config,
                       CASE g %% 10 WHEN 0 THEN %(bq_secrets)s WHEN 1 THEN %(sf_secrets)s ELSE %(wh_secrets)s END
                           AS secrets,
                       CASE g %% 10 WHEN 0 THEN %(bq_mark)s WHEN 1 THEN %(sf_mark)s ELSE %(wh_mark)s END AS mark
            ) t
            """,
            {
                "pattern": workspaces or "",
                "big_count": big_count,
                "big": big,
                "label": label,
                "count": count,
                "wh_config": webhook[0],
                "wh_secrets": webhook[1],
                "wh_mark": webhook[2],
                "bq_config": bigquery[0],
                "bq_secrets": bigquery[1],
                "bq_mark": bigquery[2],
                "sf_config": snowflake[0],
                "sf_secrets": snowflake[1],
                "sf_mark": snowflake[2],
            },
        )
        self.sql(
            f"""
            INSERT INTO {self.tables["audit"]} (workspace_id, actor_id, actor_label, via, action, target_type,
                target_id, target_name, changed_fields, secret_fields, details, created_at)
            SELECT workspace_id, NULL, 'fleet@example.com', 'api', 'create', 'destination', id, name, '[]', '[]',
                   '{{}}', created_at
            FROM {self.tables["destination"]} WHERE name LIKE %s
            """,
            [f"Destination {label}-%"],
        )

    def _runs(self, names: str, *, with_history: bool, older_than_days: int | None = None) -> None:
        """RUNS_PER_DESTINATION finished runs per destination named like `names`, each with its stored events
        and (`with_history`) its audit row; in chunks of about 200,000 runs."""
        chunks = max(1, math.ceil(self.count("destination", "WHERE name LIKE %s", [names]) / 10_000))
        age = "" if older_than_days is None else "AND s.at < now() - %(days)s * interval '1 day'"
        for chunk in range(chunks):
            self._insert_runs(
                f"""
                SELECT gen_random_uuid() AS id, d.workspace_id, d.id AS destination_id, d.destination_type,
                       CASE WHEN g %% 4 = 0 THEN 'api' ELSE 'schedule' END AS trigger, s.at, s.ok, d.name
                FROM {self.tables["destination"]} d CROSS JOIN generate_series(0, {RUNS_PER_DESTINATION - 1}) g
                CROSS JOIN LATERAL (SELECT now() - (g * 3 + random() * 3) * interval '1 day' AS at,
                                           d.status <> 'error' AS ok) s
                WHERE d.name LIKE %(names)s AND abs(hashtext(d.id::text)) %% %(chunks)s = %(chunk)s {age}
                """,
                {"names": names, "chunks": chunks, "chunk": chunk, "days": older_than_days},
                with_history=with_history,
            )

    def _much_tested_runs(self) -> None:
        """The much-tested destination: a scheduled check every few minutes over the last 25 days (never purged)."""
        self._insert_runs(
            """
            SELECT gen_random_uuid() AS id, %(workspace)s::uuid AS workspace_id, %(destination)s::uuid
                   AS destination_id, 'webhook' AS destination_type, 'schedule' AS trigger,
                   now() - random() * %(days)s * interval '1 day' AS at, g %% 50 <> 0 AS ok, 'Much tested' AS name
            FROM generate_series(1, %(count)s) g
            """,
            {
                "workspace": self.big.pk,
                "destination": self.much_tested.pk,
                "count": self.much_tested_runs,
                "days": MUCH_TESTED_DAYS,
            },
            with_history=True,
        )

    def _insert_runs(self, source: str, params: dict, *, with_history: bool) -> None:
        """Runs from `source` (id, workspace_id, destination_id, destination_type, trigger, at, ok, name), their
        events, and their audit rows, in one statement."""
        audit = f"""
            , audited AS (
                INSERT INTO {self.tables["audit"]} (workspace_id, actor_id, actor_label, via, action, target_type,
                    target_id, target_name, changed_fields, secret_fields, details, created_at)
                SELECT workspace_id, NULL, 'scheduler', trigger, 'test', 'destination', destination_id, name, '[]',
                       '[]', jsonb_build_object('test_run_id', id::text, 'overridden', '[]'::jsonb), at
                FROM source
            )"""
        self.sql(
            f"""
            WITH source AS MATERIALIZED ({source}),
            runs AS (
                INSERT INTO {self.tables["run"]} (id, workspace_id, destination_id, destination_type, actor_id,
                    trigger, started_at, finished_at, success, duration_ms, steps, heartbeat_at, config_digest,
                    error_code)
                SELECT id, workspace_id, destination_id, destination_type, NULL, trigger, at,
                       at + interval '770 milliseconds', ok, 770,
                       CASE WHEN ok THEN %(passed)s::jsonb ELSE %(failed)s::jsonb END, NULL, '',
                       CASE WHEN ok THEN '' ELSE 'auth_invalid' END
                FROM source
            ),
            events AS (
                INSERT INTO {self.tables["event"]} (run_id, seq, type, data, created_at)
                SELECT source.id, e, CASE WHEN e = {EVENTS_PER_RUN} THEN 'done' ELSE 'step' END,
                       CASE WHEN e = {EVENTS_PER_RUN}
                            THEN json_build_object('success', ok, 'test_run_id', source.id, 'duration_ms', 770)::text
                            ELSE (CASE WHEN ok THEN %(passed)s::jsonb ELSE %(failed)s::jsonb END -> (e - 1))::text
                       END,
                       at + e * interval '250 milliseconds'
                FROM source CROSS JOIN generate_series(1, {EVENTS_PER_RUN}) e
            ){audit if with_history else ""}
            SELECT 1
            """,
            {**params, "passed": json.dumps(STEPS_PASSED), "failed": json.dumps(STEPS_FAILED)},
        )

    def census(self) -> str:
        return (
            f"{self.count('workspace'):,} workspaces, {self.count('destination'):,} destinations "
            f"({self.count('destination', 'WHERE status = %s', ['error']):,} in error; "
            f"{self.count('destination', 'WHERE workspace_id = %s', [self.big.pk]):,} in the big workspace), "
            f"{self.count('run'):,} test runs, {self.count('event'):,} stored events, "
            f"{self.count('audit'):,} audit rows"
        )


# --- measuring --------------------------------------------------------------------------------------------


@dataclass
class Figure:
    seconds: float
    queries: int | None  # None: not counted (another process's)
    memory_mib: float | None  # None: not measured
    memory_kind: str  # py (tracemalloc) or rss (high-water mark)
    calls: int
    note: str = ""
    passed: bool | None = None  # the operation's own target (paged, no deadlock), when it has one

    def cells(self) -> tuple[str, str, str]:
        queries = "-" if self.queries is None else str(self.queries)
        memory = "-" if self.memory_mib is None else f"{self.memory_mib:.1f} {self.memory_kind}"
        return fmt_seconds(self.seconds), queries, memory


def rss_kib(field_name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    raise RuntimeError(field_name)


def with_rss_peak(fn):
    """(result, seconds, MiB the resident high-water mark rose by during the call).

    Freed memory is given back to the system first (a collection, then glibc's malloc_trim), so the call's
    allocations raise the mark instead of reusing what earlier calls left.
    """
    gc.collect()
    LIBC.malloc_trim(0)
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    before = rss_kib("VmRSS")
    started = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - started
    return result, seconds, (rss_kib("VmHWM") - before) / 1024


class Meter:
    def __init__(self, counter: QueryCounter, repeat: int, slow_seconds: float, traced_seconds: float):
        self.counter = counter
        self.repeat = repeat
        self.slow_seconds = slow_seconds
        self.traced_seconds = traced_seconds

    def measure(self, fn) -> tuple[Figure, object]:
        """One call counted (queries, RSS); if it took under `slow_seconds`, the time is the median of `repeat`
        more; if under `traced_seconds`, the memory is the tracemalloc peak of one more call, else the RSS rise.
        Returns the figure and the first call's result."""
        before = self.counter.count
        result, seconds, rss = with_rss_peak(fn)
        queries = self.counter.count - before
        calls = 1
        if seconds < self.slow_seconds:
            seconds, calls = common.timed(fn, self.repeat), self.repeat
        if seconds >= self.traced_seconds:
            return Figure(seconds, queries, max(rss, 0), "rss", calls), result
        tracemalloc.start()
        fn()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return Figure(seconds, queries, peak / 2**20, "py", calls), result


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


class Http:
    """The service's URLs through Django's test client, as the API's bearer token or the admin's session."""

    def __init__(self, fleet: Fleet):
        from django.test import Client

        self.fleet = fleet
        self.admin = Client(HTTP_HOST="127.0.0.1")
        self.admin.force_login(fleet.admin)
        self.api = Client(HTTP_HOST="127.0.0.1")

    def headers(self, workspace_id) -> dict:
        return {
            "HTTP_AUTHORIZATION": f"Bearer {self.fleet.api[workspace_id]}",
            "HTTP_X_WORKSPACE_ID": str(workspace_id),
        }

    def call(self, method: str, path: str, workspace_id=None, expect=200, **kwargs):
        client = self.admin if workspace_id is None else self.api
        extra = self.headers(workspace_id) if workspace_id is not None else {}
        response = getattr(client, method)(path, **kwargs, **extra)
        content = body(response)
        assert response.status_code == expect, f"{method.upper()} {path}: {response.status_code} {content[:300]!r}"
        return response, content

    def spool(self, method: str, path: str, workspace_id, *, into: str) -> int:
        """A streamed answer written chunk by chunk to the file `into`; returns its size in bytes."""
        response = getattr(self.api, method)(path, **self.headers(workspace_id))
        assert response.status_code == 200 and response.streaming, f"{method.upper()} {path}: {response.status_code}"
        with open(into, "wb") as sink:
            return sum(sink.write(chunk) for chunk in response.streaming_content)

    def json(self, method: str, path: str, workspace_id, expect=200, **kwargs):
        response, content = self.call(method, path, workspace_id, expect, **kwargs)
        return response, json.loads(content)


# --- the operations -------------------------------------------------------------------------------------


@dataclass
class Operation:
    name: str
    target: str
    judge: object = None  # (figure at this size, figure at N or None) -> bool | None


def at_most(seconds: float):
    return lambda figure, first: figure.seconds <= seconds


def no_growth(figure, first):
    """Nothing grows with the table: at 2N within 1.5x (+10 ms, the noise of a shared machine) of N, and no
    more queries."""
    if first is None:
        return None
    return figure.seconds <= first.seconds * 1.5 + 0.01 and figure.queries <= first.queries


def own_target(figure, first):
    return figure.passed


def bounded_memory(figure, first):
    """Streamed: all rows, but the server's memory at 2N within 1.25x of N's (+1 MiB), measured alike."""
    if first is None or first.memory_kind != figure.memory_kind:
        return None
    return figure.memory_mib <= first.memory_mib * 1.25 + 1


OPERATIONS = {
    "api_page": Operation("API: destinations, first page (limit=100)", "no growth", no_growth),
    "api_deep": Operation("API: destinations, 5th page of 1,000 (keyset)", "no growth", no_growth),
    "api_error": Operation("API: destinations ?status=error&limit=100", "no growth", no_growth),
    "api_type_name": Operation("API: ?destination_type=bigquery&name=7&limit=100", "no growth", no_growth),
    "api_runs": Operation("API: much-tested runs, first page", "no growth", no_growth),
    "api_runs_failed": Operation("API: much-tested runs ?status=failed", "no growth", no_growth),
    "api_bare": Operation("API: bare destination list (big workspace)", "streamed, bounded memory", bounded_memory),
    "history": Operation("API: much-tested destination's history", "paged", own_target),
    "admin_destinations": Operation("admin: destination list", "<= 1 s", at_most(1)),
    "admin_destinations_error": Operation("admin: destinations ?status=error", "<= 1 s", at_most(1)),
    "admin_runs": Operation("admin: test-run list", "<= 1 s", at_most(1)),
    "admin_runs_failed": Operation("admin: test runs ?success=false", "<= 1 s", at_most(1)),
    "admin_runs_type": Operation("admin: test runs ?type=bigquery", "<= 1 s", at_most(1)),
    "admin_runs_rare_type": Operation("admin: test runs ?type=salesforce (none run)", "<= 1 s", at_most(1)),
    "dashboard": Operation("admin: failures dashboard", "<= 1 s", at_most(1)),
    "due_count": Operation("scheduler: due count", "<= 100 ms", at_most(0.1)),
    "tick": Operation("scheduler: tick with thousands due", "<= 5 s", at_most(5)),
    "tick_upgraded": Operation("scheduler: the same tick after an upgrade", "<= 5 s", at_most(5)),
    "job_create": Operation("job over the job workspace: the 202", "capped", own_target),
    "job_poll": Operation("job: a progress poll (half done)", "capped", own_target),
    "purge": Operation("purge_test_runs (peak RSS of the process)", "<= 300 MB", lambda f, first: f.memory_mib <= 300),
    "purge_delete": Operation("API DELETE during the purge", "no deadlock, <= 1 s", own_target),
}


class Bench:
    def __init__(self, fleet: Fleet, meter: Meter, args):
        self.fleet = fleet
        self.meter = meter
        self.args = args
        self.http = Http(fleet)
        self.figures: dict[str, list[Figure]] = {key: [] for key in OPERATIONS}

    def record(self, key: str, figure: Figure) -> None:
        operation = OPERATIONS[key]
        first = self.figures[key][0] if self.figures[key] else None
        self.figures[key].append(figure)
        verdict = verdict_text(operation.judge(figure, first))
        seconds, queries, memory = figure.cells()
        print(
            f"  {operation.name:<50} {seconds:>10} {queries:>8} {memory:>12} x{figure.calls:<2} "
            f"{operation.target:<26} {verdict}" + (f"  ({figure.note})" if figure.note else ""),
            flush=True,
        )

    def op(self, key: str, fn, note=None, passed=None) -> object:
        figure, result = self.meter.measure(fn)
        if note is not None:
            figure.note = note(result) if callable(note) else note
        if passed is not None:
            figure.passed = passed(result)
        self.record(key, figure)
        return result

    def run_size(self) -> None:
        fleet, http = self.fleet, self.http
        big = fleet.big.pk
        base = f"/api/v1/workspaces/{big}/destinations"
        self.op("api_page", lambda: http.call("get", base, big, data={"limit": 100}))

        if fleet.count("destination", "WHERE workspace_id = %s", [big]) > 5000:
            url = f"{base}?limit=1000"
            for _ in range(4):  # the 5th page's URL, as each page's Link header gives the next
                response, _ = http.call("get", url, big)
                url = response.headers["Link"].split(">", 1)[0].lstrip("<").replace("http://127.0.0.1", "")
            self.op("api_deep", lambda: http.call("get", url, big))
        self.op("api_error", lambda: http.call("get", base, big, data={"status": "error", "limit": 100}))
        self.op(
            "api_type_name",
            lambda: http.call("get", base, big, data={"destination_type": "bigquery", "name": "7", "limit": 100}),
        )
        much = f"{base}/{fleet.much_tested.pk}"
        self.op("api_runs", lambda: http.call("get", f"{much}/test-runs", big))
        self.op("api_runs_failed", lambda: http.call("get", f"{much}/test-runs", big, data={"status": "failed"}))
        in_big = fleet.count("destination", "WHERE workspace_id = %s", [big])

        with tempfile.NamedTemporaryFile(prefix="fleet-bare-", suffix=".json") as spool:

            def bare_list():
                """The answer is spooled to a file as it streams, so the client holds no more than the server
                sends at once and the memory measured is the server's."""
                return http.spool("get", base, big, into=spool.name)

            self.op("api_bare", bare_list, note=lambda size: f"{in_big:,} rows, {size / 2**20:.1f} MB")
            rows = len(json.loads(Path(spool.name).read_bytes()))
            assert rows == in_big, f"the bare list must hold every destination: {rows:,} of {in_big:,}"
        entries = fleet.count("audit", "WHERE target_id = %s", [fleet.much_tested.pk])
        self.op(
            "history",
            lambda: http.call("get", f"{much}/history", big),
            note=lambda answer: (
                f"{len(json.loads(answer[1])):,} of {entries:,} entries, {len(answer[1]) / 2**20:.1f} MB"
            ),
            passed=lambda answer: len(json.loads(answer[1])) < entries,
        )
        self.admin_pages()
        self.scheduler()
        self.job()
        self.purge()

    def admin_pages(self) -> None:
        get = self.http.call
        destinations, runs = "/admin/destinations/destination/", "/admin/destinations/testrun/"
        self.op("admin_destinations", lambda: get("get", destinations))
        self.op("admin_destinations_error", lambda: get("get", destinations, data={"status__exact": "error"}))
        self.op("admin_runs", lambda: get("get", runs))
        self.op("admin_runs_failed", lambda: get("get", runs, data={"success__exact": "0"}))
        self.op("admin_runs_type", lambda: get("get", runs, data={"destination_type__exact": "bigquery"}))
        # A registered type no run has: the worst case of a newest-first page filtered by type.
        self.op("admin_runs_rare_type", lambda: get("get", runs, data={"destination_type__exact": "salesforce"}))
        self.op(
            "dashboard",
            lambda: get("get", f"{destinations}dashboard/"),
            note=lambda answer: f"{len(answer[1]) / 2**20:.1f} MB",
        )

    def scheduler(self) -> None:
        from django.utils import timezone

        due_destinations = internal(DUE_QUERY)
        self.op("due_count", lambda: due_destinations(now=timezone.now()).count(), note=lambda n: f"{n:,} due")
        # In service, each config validated at its last check is not validated again. After an upgrade every
        # config is, once, at its next check (the release is part of validated_config_mark): the same tick
        # then also parses each due BigQuery and Snowflake destination's key.
        self.tick("tick", upgraded=False)
        self.tick("tick_upgraded", upgraded=True)

    def tick(self, key: str, *, upgraded: bool) -> None:
        fleet = self.fleet
        destination, run, audit = fleet.tables["destination"], fleet.tables["run"], fleet.tables["audit"]
        # Thousands whose jittered start has come, a few per workspace (the per-workspace cap is 4).
        fleet.sql(
            f"""
            UPDATE {destination} SET health_check_due_at = now() - interval '1 minute' WHERE id IN (
                SELECT id FROM (SELECT id, row_number() OVER (PARTITION BY workspace_id ORDER BY id) AS n
                                FROM {destination} WHERE workspace_id NOT IN (%s, %s)) ranked
                WHERE n <= 4 LIMIT %s)
            """,
            [fleet.big.pk, fleet.jobs_ws.pk, fleet.due],
        )
        if upgraded:
            fleet.sql(
                f"UPDATE {destination} SET validated_config_mark = 'another release' "
                "WHERE health_check_due_at IS NOT NULL"
            )
        tick = internal(SCHEDULER_TICK)
        before = self.meter.counter.count
        report, seconds, rss = with_rss_peak(tick)
        figure = Figure(seconds, self.meter.counter.count - before, rss, "rss", 1)
        started = max(report.started, 1)
        figure.note = (
            f"{fleet.due:,} due: started {report.started:,} ({seconds / started * 1000:.0f} ms and "
            f"{figure.queries / started:.1f} queries a check), planned {report.planned:,}, capped {report.capped}"
        )
        self.record(key, figure)
        # Put the fleet back: the checks it queued never run (no worker), their runs and audit rows go.
        fleet.sql(
            f"DELETE FROM {audit} WHERE action = 'test' AND details->>'test_run_id' IN "
            f"(SELECT id::text FROM {run} WHERE finished_at IS NULL)"
        )
        fleet.sql(f"DELETE FROM {run} WHERE finished_at IS NULL")
        fleet.sql(f"UPDATE {destination} SET health_check_due_at = NULL WHERE health_check_due_at IS NOT NULL")
        if upgraded:  # back to a fleet in service
            marks = [fleet.stored[kind][2] for kind in ("bigquery", "snowflake", "webhook")]
            fleet.sql(
                f"UPDATE {destination} SET validated_config_mark = CASE destination_type WHEN 'bigquery' THEN %s "
                "WHEN 'snowflake' THEN %s ELSE %s END WHERE validated_config_mark = 'another release'",
                marks,
            )

    def job(self) -> None:
        from destinations.models import TestJob, TestJobItem

        fleet, http = self.fleet, self.http
        jobs_ws = fleet.jobs_ws.pk
        path = f"/api/v1/workspaces/{jobs_ws}/destinations/test-jobs"
        created = []

        def create():
            _response, answer = http.json(
                "post", path, jobs_ws, expect=202, data={"all": True}, content_type="application/json"
            )
            created.append(answer["id"])
            return answer

        answer = self.op(
            "job_create",
            create,
            note=lambda a: f"{a['total']:,} items, {len(a.get('results', [])):,} results in the answer",
            passed=lambda a: len(a.get("results", [])) < a["total"],
        )
        job_id = answer["id"]
        items = TestJobItem.objects.filter(job_id=job_id)
        half = list(items.order_by("position").values_list("pk", flat=True)[: answer["total"] // 2])
        TestJobItem.objects.filter(pk__in=half).update(state="passed", duration_ms=770)
        TestJob.objects.filter(pk=job_id).update(passed=len(half))  # the job keeps its counts as results arrive
        self.op(
            "job_poll",
            lambda: http.json("get", f"{path}/{job_id}", jobs_ws)[1],
            note=lambda a: f"{a['done']:,} done, {len(a.get('results', [])):,} results in the answer",
            passed=lambda a: len(a.get("results", [])) < a["total"],
        )
        TestJob.objects.filter(pk__in=created).delete()  # queued for ever (no worker): a later tick would restart them

    def purge(self) -> None:
        from django.utils import timezone

        fleet, args = self.fleet, self.args
        regular = fleet.count("run", "WHERE destination_id <> %s", [fleet.much_tested.pk])
        wanted = min(args.purge_runs or regular // 2, regular)
        # Never below MUCH_TESTED_DAYS + 1: the much-tested destination's history stays whole for the next size.
        days = max(MUCH_TESTED_DAYS + 1, math.ceil(RUN_DAYS - RUN_DAYS * wanted / max(regular, 1)))
        cutoff = timezone.now() - timedelta(days=days)  # counted against one moment: runs keep ageing meanwhile
        matched = fleet.count("run", "WHERE started_at < %s", [cutoff])
        victim = self.victim(days)
        deadlocks_before = deadlocks()
        outcome = purge_with_concurrent_delete(self, days, victim, args.purge_memory_mb, args.purge_timeout)
        deleted = matched - fleet.count("run", "WHERE started_at < %s", [cutoff])
        ended = (
            f"killed at the {args.purge_memory_mb} MB cap"
            if outcome.capped
            else f"killed at the {args.purge_timeout:.0f} s cap"
            if outcome.timed_out
            else f"exit {outcome.returncode}"
        )
        deadlocks_during = deadlocks() - deadlocks_before
        deadlocked = deadlocks_during > 0 or "deadlock detected" in outcome.stderr + outcome.delete_error
        ended += f"; DEADLOCK ({deadlocks_during} in pg_stat_database)" if deadlocked else "; no deadlock"
        self.record(
            "purge",
            Figure(
                outcome.seconds,
                None,
                outcome.peak_mib,
                "rss",
                1,
                note=f"older than {days} days: {matched:,} runs matched, {deleted:,} deleted; {ended}",
            ),
        )
        if outcome.delete_seconds is None:
            delete_note, passed = "not sent: the purge issued no DELETE before it ended", None
        else:
            answer = outcome.delete_error or f"HTTP {outcome.delete_status}"
            delete_note = f"{answer} after {outcome.delete_seconds:.1f} s"
            passed = outcome.delete_status == 200 and outcome.delete_seconds <= 1 and not deadlocked
        self.record(
            "purge_delete", Figure(outcome.delete_seconds or 0, None, None, "", 1, note=delete_note, passed=passed)
        )
        self.purged_days = days if deleted else None

    def victim(self, days: int):
        """A destination of the big workspace with runs the purge deletes."""
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT destination_id FROM {self.fleet.tables['run']} WHERE workspace_id = %s "
                "AND destination_id <> %s AND started_at < now() - %s * interval '1 day' LIMIT 1",
                [self.fleet.big.pk, self.fleet.much_tested.pk, days],
            )
            return cursor.fetchone()[0]


def deadlocks() -> int:
    """The deadlocks PostgreSQL detected in the bench's database so far (whoever was the victim, and whatever
    the service made of it), once the statistics of the transactions before this moment are flushed."""
    import psycopg

    time.sleep(1.5)  # backends flush their statistics at most once a second (PostgreSQL 15)
    with psycopg.connect(DATABASE_URL, autocommit=True) as watch:
        return watch.execute("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()").fetchone()[0]


@dataclass
class PurgeOutcome:
    seconds: float = 0
    peak_mib: float = 0
    returncode: int | None = None
    capped: bool = False
    timed_out: bool = False
    stderr: str = ""
    delete_status: int | None = None
    delete_error: str = ""
    delete_seconds: float | None = None


def purge_with_concurrent_delete(bench: Bench, days: int, victim, memory_mb: int, timeout: float) -> PurgeOutcome:
    """`manage.py purge_test_runs` in a subprocess (its peak RSS from wait4), killed at the memory or time cap;
    once it deletes runs themselves, an API DELETE of `victim` (whose runs it deletes) from a thread here."""
    import psycopg

    outcome = PurgeOutcome()
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "manage.py", "purge_test_runs", "--older-than-days", str(days)],
        cwd=common.ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    stderr_lines: list[str] = []
    reader = threading.Thread(target=lambda: stderr_lines.extend(process.stderr), daemon=True)
    reader.start()
    workspace = bench.fleet.big.pk

    def delete_when_deleting():
        with psycopg.connect(DATABASE_URL, autocommit=True) as watch:
            while process.poll() is None:
                # Its transaction has started deleting runs (not only their events): the rows the API's
                # delete must update are being locked.
                active = watch.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state <> 'idle' "
                    "AND query LIKE %s",
                    [f'DELETE FROM "{bench.fleet.tables["run"]}" WHERE%'],
                ).fetchone()[0]
                if active:
                    break
                time.sleep(0.05)
            else:
                return
        from django.db import connection

        sent = time.perf_counter()
        try:
            response = bench.http.api.delete(
                f"/api/v1/workspaces/{workspace}/destinations/{victim}", **bench.http.headers(workspace)
            )
            outcome.delete_status = response.status_code
        except Exception as exc:  # the test client raises what the view raised: PostgreSQL's deadlock victim
            outcome.delete_error = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
        finally:
            outcome.delete_seconds = time.perf_counter() - sent
            connection.close()

    deleter = threading.Thread(target=delete_when_deleting, daemon=True)
    deleter.start()

    def watchdog():
        status = Path(f"/proc/{process.pid}/status")
        while process.poll() is None:
            try:
                rss = next(int(line.split()[1]) for line in status.read_text().splitlines() if line.startswith("VmRSS"))
            except (OSError, StopIteration):
                return
            if rss / 1024 > memory_mb:
                outcome.capped = True
                os.kill(process.pid, signal.SIGKILL)
                return
            if time.perf_counter() - started > timeout:
                outcome.timed_out = True
                os.kill(process.pid, signal.SIGKILL)
                return
            time.sleep(0.1)

    guard = threading.Thread(target=watchdog, daemon=True)
    guard.start()
    _pid, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    outcome.seconds = time.perf_counter() - started
    outcome.peak_mib = usage.ru_maxrss / 1024
    outcome.returncode = process.returncode
    guard.join()
    deleter.join(timeout=120)
    reader.join(timeout=5)
    outcome.stderr = "".join(stderr_lines)
    return outcome


# --- output ----------------------------------------------------------------------------------------------


def fmt_seconds(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def verdict_text(passed: bool | None) -> str:
    return "-" if passed is None else "met" if passed else "MISSED"


def summary(bench: Bench, labels: list[str]) -> None:
    print()
    print("== summary (time / queries / peak MiB at each size; growth = last size over the first)")
    header = f"{'operation':<50} " + " ".join(f"{label:>34}" for label in labels) + f" {'growth':>7}  target"
    print(header)
    print("-" * len(header))
    for key, operation in OPERATIONS.items():
        figures = bench.figures[key]
        if not figures:
            continue
        cells = [" / ".join(f.cells()) for f in figures]
        growth = f"{figures[-1].seconds / figures[0].seconds:.2f}x" if figures[0].seconds and len(figures) > 1 else ""
        verdicts = []
        for index, figure in enumerate(figures):
            verdicts.append(verdict_text(operation.judge(figure, figures[0] if index else None)))
        print(
            f"{operation.name:<50} " + " ".join(f"{cell:>34}" for cell in cells) + f" {growth:>7}  "
            f"{operation.target}: {' / '.join(verdicts)}"
        )


# --- set-up -----------------------------------------------------------------------------------------------


def database(create: bool) -> None:
    """Create (dropping any left over) or drop the bench's own database."""
    import psycopg
    from psycopg import sql

    name = DATABASE_URL.rsplit("/", 1)[1]
    with psycopg.connect(DATABASE_URL.rsplit("/", 1)[0] + "/postgres", autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        if create:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="Fleet size N as a fraction of the default (1).")
    parser.add_argument("--sizes", type=int, default=2, help="Measure at N, 2N, ... (default 2: N and 2N).")
    parser.add_argument("--big-share", type=float, default=0.5, help="Share of each N in the big workspace.")
    parser.add_argument("--repeat", type=int, default=3, help="Timed calls of a fast operation (median).")
    parser.add_argument("--slow-seconds", type=float, default=3.0, help="An operation this slow is timed once.")
    parser.add_argument(
        "--traced-seconds", type=float, default=10.0, help="Slower than this, memory is the RSS rise, not tracemalloc."
    )
    parser.add_argument("--purge-runs", type=int, help="Runs the purge deletes at most (default: half the runs).")
    parser.add_argument("--purge-memory-mb", type=int, default=4096, help="Kill the purge above this RSS.")
    parser.add_argument("--purge-timeout", type=float, default=900, help="Kill the purge after this many seconds.")
    parser.add_argument("--keep", action="store_true", help="Keep the database at the end (to look at it).")
    args = parser.parse_args()

    if not redis_available(REDIS_URL):
        sys.exit(f"No Redis at {REDIS_URL} (set BENCH_REDIS_URL): the tick and the job queue their tests there.")
    database(create=True)
    queue = f"fleet-bench-{uuid.uuid4().hex}"
    os.environ.update(BENCH_DATABASE_URL=DATABASE_URL, REDIS_URL=REDIS_URL, CELERY_QUEUE=queue)
    # The job's 202 is measured, not the vendor-call budget that would refuse a job of 10,000 (429).
    os.environ.update(
        RATE_LIMIT_VENDOR_CALLS_PER_TOKEN="1000000/min", RATE_LIMIT_VENDOR_CALLS_PER_ADDRESS="1000000/min"
    )
    try:
        common.setup_django("fleet")
        counter = QueryCounter()
        counter.install()
        fleet = Fleet(args.scale, args.big_share)
        seeded = time.perf_counter()
        fleet.setup()
        bench = Bench(fleet, Meter(counter, args.repeat, args.slow_seconds, args.traced_seconds), args)
        labels = []
        for size in range(1, args.sizes + 1):
            started = time.perf_counter()
            if size > 1 and getattr(bench, "purged_days", None):
                fleet.replace_purged(bench.purged_days)
            fleet.grow()
            label = "N" if size == 1 else f"{size}N"
            labels.append(label)
            print(f"\n== {label} (--scale {args.scale}): {fleet.census()}")
            print(
                f"   seeded in {time.perf_counter() - (seeded if size == 1 else started):.0f} s; load average "
                f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores"
            )
            print(f"  {'operation':<50} {'median':>10} {'queries':>8} {'peak MiB':>12} {'n':<3} {'target':<26} verdict")
            bench.run_size()
            print(f"   load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        summary(bench, labels)
    finally:
        import redis

        redis.Redis.from_url(REDIS_URL).delete(queue)
        from django.db import connections

        connections.close_all()
        if not args.keep:
            database(create=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
