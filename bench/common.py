"""Shared set-up for the benchmarks: a throwaway database, Django configured, a uvicorn server process."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qs

ROOT = Path(__file__).resolve().parent.parent


def setup_django(label: str) -> dict:
    """Configure Django on a fresh database (SQLite file, or BENCH_DATABASE_URL) and migrate it.

    Returns the environment a server subprocess needs to use the same database and settings.
    """
    sys.path.insert(0, str(ROOT))
    database_url = os.environ.get("BENCH_DATABASE_URL")
    if not database_url:
        path = Path(tempfile.mkdtemp(prefix=f"bench-{label}-")) / "db.sqlite3"
        database_url = f"sqlite:///{path}"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "zeotap_composable.settings",
        "DJANGO_TESTING": "true",  # throwaway keys, no production checks
        "OUTBOUND_ALLOWED_NETWORKS": "127.0.0.0/8,::1/128",
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    if database_url.startswith("postgres"):
        call_command("flush", "--noinput", verbosity=0)
    call_command("migrate", "--noinput", verbosity=0)
    return env


async def _answer(reader, writer, delay: float, answered: dict) -> None:
    """HTTP/1.1 with keep-alive: every request is answered after `delay`; HEAD 200, anything else 202.

    The wall-clock time each answer was written is kept per path; `GET /__answered?path=P` returns them
    at once (a bench's clients compare them with when their event arrived).
    """
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            method, target = lines[0].split(b" ")[:2]
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if length:
                await reader.readexactly(length)
            path, _, query = target.decode().partition("?")
            if path == "/__answered":
                body = json.dumps(answered.get(parse_qs(query).get("path", [""])[0], [])).encode()
                status = b"200 OK"
            else:
                await asyncio.sleep(delay)
                body = b"" if method == b"HEAD" else b'{"received": true}'
                status = b"200 OK" if method == b"HEAD" else b"202 Accepted"
            writer.write(
                b"HTTP/1.1 "
                + status
                + b"\r\nContent-Type: application/json\r\nContent-Length: "
                + str(len(body)).encode()
                + b"\r\n\r\n"
                + body
            )
            await writer.drain()
            if path != "/__answered":
                answered.setdefault(path, []).append(time.time())
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


def serve_receiver(delay: float, port_pipe) -> None:
    """A local webhook receiver in its own process: a minimal asyncio HTTP server that answers every
    request after `delay` (HEAD 200, anything else 202) and costs little CPU, so a bench measures the
    service, not the receiver. Sends its port through `port_pipe`."""

    async def main():
        answered: dict[str, list[float]] = {}
        server = await asyncio.start_server(lambda r, w: _answer(r, w, delay, answered), "127.0.0.1", 0, backlog=1024)
        port_pipe.send(server.sockets[0].getsockname()[1])
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """`uvicorn zeotap_composable.asgi:application` in its own process, as `make run` serves it."""

    def __init__(self, env: dict):
        self.port = free_port()
        self.env = env
        self.process = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerProcess:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "zeotap_composable.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
                "--no-access-log",
                "--workers",
                os.environ.get("BENCH_SERVER_WORKERS", "1"),
            ],
            cwd=ROOT,
            env=self.env,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("the server did not start")

    @property
    def pid(self) -> int:
        return self.process.pid

    def _pids(self) -> list[int]:
        """The server process and, with --workers N, its worker processes."""
        children = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text().split()
        return [self.pid, *map(int, children)]

    def cpu_seconds(self) -> float:
        """User + system CPU the server's processes have used so far."""
        total = 0
        for pid in self._pids():
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        return total / os.sysconf("SC_CLK_TCK")

    def peak_rss_mib(self) -> float:
        """Peak resident memory (VmHWM) summed over the server's processes."""
        total = 0
        for pid in self._pids():
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
        return total / 1024

    def __exit__(self, *exc):
        self.process.terminate()
        self.process.wait(timeout=10)


def timed(fn, repeat: int) -> float:
    """The median seconds of `repeat` calls (after one warm-up)."""
    fn()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    samples.sort()
    return samples[len(samples) // 2]
