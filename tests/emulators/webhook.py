"""A webhook receiver: records deliveries, checks an API key header when one is set."""

from werkzeug.routing import Rule

from .base import Emulator


class WebhookReceiver(Emulator):
    rules = (Rule("/hooks/<name>", endpoint="hook", methods=["GET", "HEAD", "POST", "PUT", "PATCH", "OPTIONS"]),)

    def __init__(self, *, required_headers: dict | None = None, **kwargs):
        super().__init__(**kwargs)
        self.required_headers = required_headers or {}
        self.received: list[dict] = []

    def on_hook(self, request, name):
        if request.method in ("HEAD", "GET", "OPTIONS"):
            return self.json({"ok": True})
        for header, value in self.required_headers.items():
            if request.headers.get(header) != value:
                return self.json({"error": "unauthorized"}, 401)
        self.received.append({"name": name, "headers": dict(request.headers), "json": request.get_json(silent=True)})
        return self.json({"received": True}, 202)


EMULATOR = WebhookReceiver


def valid_config(emulator: WebhookReceiver) -> dict:
    return {"url": f"{emulator.url}/hooks/in", "method": "POST", "headers": {"X-API-Key": "webhook-test-key"}}
