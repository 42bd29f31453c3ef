"""A real HTTP server on loopback that answers as a vendor does; one subclass per vendor.

Subclasses declare werkzeug `Rule`s whose endpoint names map to `on_<endpoint>(request, **values)`
methods. Tests steer it through plain attributes (the vendor's state: valid tokens, existing objects)
and through `fail()`/`slow()` for documented failures and slow answers. Every request is recorded.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field

from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request drowns test and bench output


@dataclass
class Call:
    method: str
    path: str
    query: dict
    headers: dict
    body: bytes
    endpoint: str


@dataclass
class ForcedAnswer:
    status: int
    body: object
    headers: dict = field(default_factory=dict)
    times: int | None = None  # None: until cleared


class Emulator:
    rules: tuple[Rule, ...] = ()

    def __init__(self, *, ssl_context=None, port: int = 0):
        self._port = port
        self.url_map = Map([rule.empty() for rule in self.rules])
        self.calls: list[Call] = []
        self._forced: dict[str, ForcedAnswer] = {}
        self._delays: dict[str, float] = {}
        self._ssl_context = ssl_context
        self._server = None
        self._thread = None
        self.lock = threading.Lock()
        self.reset_state()

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> Emulator:
        self._server = make_server("127.0.0.1", self._port, self.wsgi, threaded=True, ssl_context=self._ssl_context)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._server.server_port

    @property
    def url(self) -> str:
        scheme = "https" if self._ssl_context else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    # --- steering -----------------------------------------------------------------------------

    def fail(self, endpoint: str, status: int, body: object = None, *, headers=None, times=None) -> None:
        """Answer `endpoint` with this status and body (JSON unless bytes/str) instead of the normal answer."""
        self._forced[endpoint] = ForcedAnswer(status, body, headers or {}, times)

    def slow(self, endpoint: str, seconds: float) -> None:
        """Delay every answer of `endpoint` (`*` for all) by `seconds`."""
        self._delays[endpoint] = seconds

    def reset(self) -> None:
        """Forget forced answers, delays, calls and any vendor state a test changed."""
        self._forced.clear()
        self._delays.clear()
        self.calls.clear()
        self.reset_state()

    def reset_state(self) -> None:
        """Subclasses set up the vendor's state (tokens, lists, tables) here."""

    def calls_to(self, endpoint: str) -> list[Call]:
        return [call for call in self.calls if call.endpoint == endpoint]

    # --- serving ------------------------------------------------------------------------------

    @staticmethod
    def json(data: object, status: int = 200, headers: dict | None = None) -> Response:
        return Response(json.dumps(data), status=status, headers=headers, content_type="application/json")

    def wsgi(self, environ, start_response):
        request = Request(environ)
        adapter = self.url_map.bind_to_environ(environ)
        try:
            endpoint, values = adapter.match()
        except NotFound:
            endpoint, values = "", {}
        except HTTPException as exc:
            return exc(environ, start_response)
        body = request.get_data()
        with self.lock:
            self.calls.append(
                Call(request.method, request.path, request.args.to_dict(), dict(request.headers), body, endpoint)
            )
        delay = self._delays.get(endpoint, self._delays.get("*", 0.0))
        if delay:
            time.sleep(delay)
        if not endpoint:
            response = self.not_found(request)
        else:
            response = self._forced_answer(endpoint) or getattr(self, f"on_{endpoint}")(request, **values)
        return response(environ, start_response)

    def _forced_answer(self, endpoint: str) -> Response | None:
        with self.lock:
            forced = self._forced.get(endpoint)
            if forced is None:
                return None
            if forced.times is not None:
                forced.times -= 1
                if forced.times <= 0:
                    del self._forced[endpoint]
        if isinstance(forced.body, bytes | str):
            return Response(forced.body, status=forced.status, headers=forced.headers)
        return self.json(forced.body, forced.status, forced.headers)

    def not_found(self, request: Request) -> Response:
        return self.json({"error": "not_found", "path": request.path}, 404)
