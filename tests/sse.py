"""Parse Server-Sent Events text, and serve the ASGI app with uvicorn for live streaming tests."""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass


@dataclass
class Event:
    type: str
    id: str | None
    data: dict


def parse(text: str) -> list[Event]:
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        fields = {"event": "message", "id": None, "data": []}
        for line in block.split("\n"):
            if not line or line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "data":
                fields["data"].append(value)
            elif name in ("event", "id"):
                fields[name] = value
        if fields["data"]:
            events.append(Event(fields["event"], fields["id"], json.loads("\n".join(fields["data"]))))
    return events


def read_stream(response) -> list[Event]:
    """Consume a (sync test client) streaming response to its end."""
    assert response["Content-Type"].startswith("text/event-stream"), response.content
    return parse(b"".join(response).decode())


class LiveServer:
    """uvicorn serving the project's ASGI app on a free loopback port, in a thread."""

    def __init__(self):
        import uvicorn

        from zeotap_composable.asgi import application

        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        config = uvicorn.Config(application, log_level="warning", lifespan="off", timeout_graceful_shutdown=1)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(timeout=5)
        self.socket.close()


def iter_events(response):
    """Events of a live `requests` streaming response, as they arrive."""
    buffer = ""
    for chunk in response.iter_content(chunk_size=None, decode_unicode=True):
        buffer += chunk
        while "\n\n" in buffer:
            block, buffer = buffer.split("\n\n", 1)
            yield from parse(block + "\n\n")
