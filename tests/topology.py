"""Real processes of the distributed runtime for tests and benchmarks: uvicorn web processes, Celery workers
and beat, all against one database and one Redis, each in its own process group so it can be killed."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
REDIS_TEST_URL = os.environ.get("REDIS_TEST_URL", "redis://127.0.0.1:6379/15")


def free_port() -> int:
    """A port nothing listens on, outside the kernel's ephemeral range. A port the kernel hands out (bind to 0)
    is in that range, so before the server binds it, any outgoing connection may take it as its source port
    ("address already in use")."""
    low, high = _ephemeral_ports()
    candidates = [*range(10_000, low), *range(high + 1, 65_535)]
    for port in random.sample(candidates, 200):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port outside the ephemeral range")


def _ephemeral_ports() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32_768, 60_999  # Linux's default


def redis_available(url: str = REDIS_TEST_URL) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def database_url(settings_dict: dict) -> str:
    """The URL of the database Django is using now (the test database once it is set up)."""
    if settings_dict["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{settings_dict['NAME']}"
    user = settings_dict.get("USER") or ""
    password = f":{settings_dict['PASSWORD']}" if settings_dict.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    return f"postgres://{auth}{settings_dict['HOST']}:{settings_dict.get('PORT') or 5432}/{settings_dict['NAME']}"


def process_env(*, database: str, redis_url: str | None, queue: str | None = None, **extra) -> dict:
    """The environment of a server process using `database`; distributed when `redis_url` is given."""
    from django.conf import settings

    env = {
        key: value
        for key, value in os.environ.items()
        # MAKE*: a `make test` run's recursion flags would make a `make` the process runs print its directories.
        if not key.startswith(("PYTEST", "REDIS_URL", "CELERY_", "DATABASE_URL", "MAKE", "MFLAGS"))
    }
    env.update(
        {
            "DATABASE_URL": database,
            "DJANGO_SETTINGS_MODULE": "zeotap_composable.settings",
            "DJANGO_TESTING": "true",
            "DJANGO_SECRET_KEY": settings.SECRET_KEY,
            "SECRETS_ENCRYPTION_KEYS": ",".join(settings.SECRETS_ENCRYPTION_KEYS),
            "OUTBOUND_ALLOWED_NETWORKS": "127.0.0.0/8,::1/128",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
    )
    if redis_url:
        env["REDIS_URL"] = redis_url
        env["CELERY_QUEUE"] = queue or f"tests-{uuid.uuid4().hex}"
    env.update({key: str(value) for key, value in extra.items()})
    return env


class _Process:
    """A child process in its own group, its output in a file (shown when it fails to start)."""

    command: list[str]
    process: subprocess.Popen | None = None

    def __init__(self, env: dict):
        self.env = env
        self.log = tempfile.NamedTemporaryFile(prefix="topology-", suffix=".log", delete=False)  # noqa: SIM115

    def start(self):
        self.process = subprocess.Popen(
            self.command, cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + 60
        while not self.ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.command[:4]} did not start:\n{self.output()[-3000:]}")
            time.sleep(0.1)
        return self

    def ready(self) -> bool:
        raise NotImplementedError

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    @property
    def pid(self) -> int:
        return self.process.pid

    def kill(self) -> None:
        """SIGKILL, as when the machine or the OOM killer takes the process: nothing runs on the way out."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def cpu_seconds(self) -> float:
        """User + system CPU of the process and its children so far."""
        total = 0
        pids = [self.pid]
        while pids:
            pid = pids.pop()
            try:
                stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(stat[11]) + int(stat[12])
                for task in Path(f"/proc/{pid}/task").iterdir():
                    pids += map(int, (task / "children").read_text().split())
            except (FileNotFoundError, ProcessLookupError):
                continue
        return total / os.sysconf("SC_CLK_TCK")

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class Web(_Process):
    """`uvicorn zeotap_composable.asgi:application`, as `make run` serves it."""

    def __init__(self, env: dict, port: int | None = None, *, access_log: bool = False):
        super().__init__(env)
        self.port = port or free_port()
        self.command = [
            sys.executable,
            "-m",
            "uvicorn",
            "zeotap_composable.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--no-proxy-headers",  # TRUSTED_PROXIES is the one rule for X-Forwarded-For (docs/security.md)
            "--log-level",
            "info" if access_log else "warning",
            *([] if access_log else ["--no-access-log"]),
        ]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ready(self) -> bool:
        try:
            return requests.get(f"{self.url}/api/v1/destination-types", timeout=1).status_code == 401
        except requests.RequestException:
            return False


class Worker(_Process):
    """`celery -A zeotap_composable worker` on the environment's queue; `beat` also runs the schedule."""

    def __init__(self, env: dict, *, concurrency: int = 8, beat: bool = False, name: str | None = None):
        super().__init__(env)
        self.name = name or f"w{uuid.uuid4().hex[:8]}"
        self.command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "zeotap_composable",
            "worker",
            "-Q",
            env["CELERY_QUEUE"],
            "-n",
            f"{self.name}@%h",
            "-c",
            str(concurrency),
            "-l",
            "info",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
        if beat:
            schedule = Path(tempfile.mkdtemp(prefix="beat-")) / "schedule"
            self.command += ["-B", "-s", str(schedule)]

    def ready(self) -> bool:
        return " ready." in self.output()


class RedisServer(_Process):
    """A Redis of its own on a free port, for tests that take Redis away and bring it back (empty, as
    a restarted Redis that keeps nothing on disk is)."""

    def __init__(self):
        super().__init__(dict(os.environ))
        self.port = free_port()
        self.command = [
            "redis-server",
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--save",
            "",
            "--appendonly",
            "no",
        ]

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def ready(self) -> bool:
        return redis_available(self.url())


def postgres_binaries() -> Path | None:
    """The newest installed PostgreSQL's bin directory (initdb, pg_ctl), or None."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parent.parent.name))
    return found[-1].parent if found else None


class PostgresCluster:
    """A throwaway PostgreSQL cluster of its own (a temp dir, a free port, trust auth), for tests that stop and
    restart the database; never the machine's main cluster. As root it runs as the `postgres` user."""

    def __init__(self, bin_dir: Path):
        self.bin_dir = bin_dir
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="pgcluster-"))
        self.data = self.root / "data"
        self.sockets = self.root / "run"
        self.sockets.mkdir()
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            subprocess.run(["chown", "-R", "postgres:postgres", str(self.root)], check=True)

    def _run(self, *command: str, check: bool = True) -> subprocess.CompletedProcess:
        argv = [str(self.bin_dir / command[0]), *command[1:]]
        if self.as_postgres:
            argv = ["su", "postgres", "-s", "/bin/sh", "-c", " ".join(f"'{part}'" for part in argv)]
        return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=check)

    def init(self) -> PostgresCluster:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        return self.start()

    def start(self) -> PostgresCluster:
        options = f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "log"), "-w", "start")
        return self

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop", check=False)

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        return self.url(name)

    def remove(self) -> None:
        self.stop()
        subprocess.run(["rm", "-rf", str(self.root)], check=False)
