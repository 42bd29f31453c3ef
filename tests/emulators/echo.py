"""A hostile vendor: every answer is an error that quotes the whole request back (method, URL, headers, body).

`mode` picks the error shape, so each connector's own extractor finds the echo where it looks: a nested
{"error": {...}} object with the common keys, an OAuth {"error", "error_description"}, a JSON array of
errors (Salesforce's shape), or plain text.
"""

from __future__ import annotations

import json

from werkzeug.wrappers import Request, Response

from .base import Call, Emulator

MODES = ("json", "oauth", "array", "text")


class EchoVendor(Emulator):
    def __init__(self, *, mode: str = "json", status: int = 400, **kwargs):
        super().__init__(**kwargs)
        self.mode = mode
        self.status = status

    def wsgi(self, environ, start_response):
        request = Request(environ)
        body = request.get_data()
        with self.lock:
            self.calls.append(
                Call(request.method, request.path, request.args.to_dict(), dict(request.headers), body, "echo")
            )
        echo = "\n".join(
            [f"{request.method} {request.url}", *(f"{k}: {v}" for k, v in request.headers.items()), "", body.decode()]
        )
        return self.answer(echo)(environ, start_response)

    def answer(self, echo: str) -> Response:
        if self.mode == "text":
            return Response(echo, status=self.status, content_type="text/plain")
        if self.mode == "oauth":
            data = {"error": "invalid_request", "error_description": echo}
        elif self.mode == "array":
            data = [{"message": echo, "errorCode": "INVALID", "code": "INVALID", "detail": echo}]
        else:
            common = {"message": echo, "detail": echo, "title": echo, "msg": echo, "Message": echo}
            data = {
                "error": {
                    "code": self.status,
                    "message": echo,
                    "status": "INVALID_ARGUMENT",
                    "type": "OAuthException",
                    "errors": [{"message": echo, "reason": "invalid", "domain": "global"}],
                },
                "errors": [{**common, "code": "invalid", "status": str(self.status)}],
                "error_code": "INVALID",
                **common,
            }
        return Response(json.dumps(data), status=self.status, content_type="application/json")


EMULATOR = EchoVendor
