"""Every ```bash block of the README and the docs pages runs, in order, against a live server.

Each page runs in one bash session (`set -e`, so a failing command fails the page), with API, WS, TOKEN, PORT,
RECEIVER_PORT and EMULATOR_PORT set as `make run` and the page's prose say, and the server's own database and
keys, so `make manage` reaches the same data. A line `# → text` in a block promises that the commands before
it print `text` (whitespace aside; `…` stands for anything): the test checks each promise. A block preceded by
`<!-- not run: why -->` is an illustration and is skipped; a page with no runnable block is not run at all.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.db import connection

from tests.topology import REDIS_TEST_URL, ROOT, Web, Worker, database_url, free_port, process_env, redis_available
from workspaces.services import workspace_bootstrap

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^(?P<indent> *)```(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.M | re.S)
NOT_RUN = re.compile(r"<!--\s*not run:\s*\S[^\n]*?-->(?:\s*<!--[^\n]*?-->)*\s*$")  # other comments may follow
DISTRIBUTED = "<!-- distributed:"  # a page with this comment runs against the distributed runtime
PROMISE = "# → "
SEGMENT_SECONDS = 60
END = "__doc_block_end__"
# The OAuth recipe's server environment (docs/connections.md, "Trying it locally"), the emulator on EMULATOR_PORT.
OAUTH_APPS = {
    "salesforce": {
        "client_id": "3MVG9A2kN3Bn17hs8MIaQx1voVGy662rXlC37svtmLmt6wO_iik8Hnk3DlcYjKRvzVNGWLFlGRH1ryHwS217h",
        "client_secret": "5A8C1E3F0B2D4F6A8C0E2B4D6F8A0C2E4B6D8F0A2C4E6B8D0F2A4C6E8B0D2F4",
    }
}


@dataclass
class Segment:
    """Commands, and what their output promises (the `# → ` lines after them)."""

    code: str
    promises: list[str]


def bash_blocks(page: Path) -> list[str]:
    """The page's runnable bash blocks, in order: those no `<!-- not run: … -->` comment precedes."""
    text = page.read_text()
    blocks = []
    for match in FENCE.finditer(text):
        if match["info"].strip().split(" ")[0] not in ("bash", "sh", "shell"):
            continue
        if NOT_RUN.search(text[: match.start()].rstrip() + "\n"):
            continue
        indent = len(match["indent"])
        blocks.append("".join(line[indent:] for line in match["body"].splitlines(keepends=True)))
    return blocks


def segments(block: str) -> list[Segment]:
    result = [Segment("", [])]
    for line in block.splitlines():
        if line.strip().startswith(PROMISE):
            result[-1].promises.append(line.strip()[len(PROMISE) :])
        else:
            if result[-1].promises:
                result.append(Segment("", []))
            result[-1].code += line + "\n"
    return [segment for segment in result if segment.code.strip() or segment.promises]


def promised(text: str, output: str) -> bool:
    """`text` occurs in `output`, ignoring whitespace; `…` matches anything."""
    squeeze = re.compile(r"\s+")
    pattern = ".*?".join(re.escape(squeeze.sub("", part)) for part in text.split("…"))
    return re.search(pattern, squeeze.sub("", output), re.S) is not None


class Session:
    """One bash reading commands from a pipe, its own process group (background receivers die with it)."""

    def __init__(self, env: dict):
        self.process = subprocess.Popen(
            ["bash", "--noprofile", "--norc"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.chunks: queue.Queue[bytes] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.run("set -e")

    def _read(self):
        while chunk := os.read(self.process.stdout.fileno(), 65536):
            self.chunks.put(chunk)

    def run(self, code: str) -> str:
        """Run `code`; its output. Fails when a command fails (bash exits) or it takes too long."""
        self.process.stdin.write(f"{code}\nprintf '\\n{END}\\n'\n".encode())
        self.process.stdin.flush()
        output, deadline = b"", time.monotonic() + SEGMENT_SECONDS
        while f"\n{END}\n".encode() not in output:
            try:
                output += self.chunks.get(timeout=0.2)
                continue
            except queue.Empty:
                pass
            text = output.decode(errors="replace")
            if self.process.poll() is not None and self.chunks.empty():
                raise AssertionError(f"bash exited (a command failed):\n{code}\n--- output:\n{text}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no end after {SEGMENT_SECONDS} s:\n{code}\n--- output:\n{text}")
        return output.decode(errors="replace").split(f"\n{END}\n")[0]

    def close(self):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker):
    """One server on the test database for every page, with the OAuth recipe's environment."""
    port, emulator_port = free_port(), free_port()
    env = process_env(
        database=database_url(connection.settings_dict),
        redis_url=None,
        OAUTH_APPS=json.dumps(OAUTH_APPS),
        CONNECTOR_BASE_URLS=json.dumps({"salesforce": f"http://127.0.0.1:{emulator_port}"}),
        OAUTH_REDIRECT_ALLOWED=f"http://127.0.0.1:{port}",
    )
    with Web(env, port) as web:
        yield web, env, emulator_port


@pytest.fixture
def distributed(transactional_db):
    """`make run-distributed`'s processes: web on PORT and PORT + 1, a worker, on this run's Redis and database."""
    if not redis_available():
        pytest.skip(f"Redis is not reachable at {REDIS_TEST_URL}; .ci/run starts it")
    env = process_env(database=database_url(connection.settings_dict), redis_url=REDIS_TEST_URL)
    port = free_port()
    while not port_free(port + 1):
        port = free_port()
    processes = [Web(env, port), Web(env, port + 1), Worker(env)]
    try:
        for process in processes:
            process.start()
        yield processes[0], env, free_port()
    finally:
        for process in processes:
            process.stop()


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("page", [page for page in PAGES if bash_blocks(page)], ids=lambda page: page.name)
def test_the_pages_commands_run_and_print_what_they_promise(page, request):
    runtime = "distributed" if DISTRIBUTED in page.read_text() else "server"
    web, env, emulator_port = request.getfixturevalue(runtime)
    workspace, _user, token = workspace_bootstrap(name=f"Docs {page.stem}", email="docs@example.com")
    session = Session(
        {
            **env,
            "API": web.url,
            "WS": str(workspace.pk),
            "TOKEN": token,
            "PORT": str(web.port),
            "RECEIVER_PORT": str(free_port()),
            "EMULATOR_PORT": str(emulator_port),
        }
    )
    try:
        for block in bash_blocks(page):
            for segment in segments(block):
                output = session.run(segment.code)
                for text in segment.promises:
                    assert promised(text, output), (
                        f"{page.name}: expected {text!r} from\n{segment.code}\n--- got:\n{output}"
                    )
    finally:
        session.close()


def test_the_oauth_recipes_server_environment_is_the_one_the_test_serves_with():
    recipe = (ROOT / "docs" / "connections.md").read_text()
    assert json.loads(re.search(r"OAUTH_APPS='([^']+)'", recipe)[1]) == OAUTH_APPS
    assert """CONNECTOR_BASE_URLS='{"salesforce": "http://127.0.0.1:'"$EMULATOR_PORT"'"}'""" in recipe
    assert 'OAUTH_REDIRECT_ALLOWED="http://127.0.0.1:$PORT" make run' in recipe


def test_a_promise_is_checked_and_an_illustration_is_skipped(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        '```bash\necho \'{"status":  "deleted"}\'\n# → {"status": "deleted"}\n```\n\n'
        "<!-- not run: serves in the foreground -->\n```bash\nmake run\n```\n\n```json\n{}\n```\n"
        "<!-- not run: a script of its own test -->\n<!-- script -->\n```sh\nexit 1\n```\n"
        "<!-- not run: -->\n```sh\necho a reason is required\n```\n"
    )
    first, unmarked = bash_blocks(page)
    assert unmarked == "echo a reason is required\n"
    (segment,) = segments(first)
    assert segment.promises == ['{"status": "deleted"}']
    assert promised(segment.promises[0], '{"status":"deleted"}\n')
    assert not promised("409 Conflict", "HTTP/1.1 201 Created")
    assert promised("id: testrun-…:2", "id: testrun-5b0c:2")
