"""A webhook receiver: records deliveries, checks an API key header when one is set, and verifies a
Standard Webhooks signature with the spec's own Python library when given the signing secret."""

from standardwebhooks import Webhook, WebhookVerificationError
from werkzeug.routing import Rule

from .base import Emulator


class WebhookReceiver(Emulator):
    rules = (Rule("/hooks/<name>", endpoint="hook", methods=["GET", "HEAD", "POST", "PUT", "PATCH", "OPTIONS"]),)

    def __init__(self, *, required_headers: dict | None = None, signing_secret: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.required_headers = required_headers or {}
        self.signing_secret = signing_secret
        self.received: list[dict] = []

    def on_hook(self, request, name):
        if request.method in ("HEAD", "GET", "OPTIONS"):
            return self.json({"ok": True})
        for header, value in self.required_headers.items():
            if request.headers.get(header) != value:
                return self.json({"error": "unauthorized"}, 401)
        if self.signing_secret:
            try:
                Webhook(self.signing_secret).verify(request.get_data(), dict(request.headers))
            except WebhookVerificationError as exc:
                return self.json({"error": "bad signature", "reason": str(exc)}, 401)
        self.received.append({"name": name, "headers": dict(request.headers), "json": request.get_json(silent=True)})
        return self.json({"received": True}, 202)


EMULATOR = WebhookReceiver


def valid_config(emulator: WebhookReceiver) -> dict:
    return {"url": f"{emulator.url}/hooks/in", "method": "POST", "headers": {"X-API-Key": "webhook-test-key"}}


if __name__ == "__main__":
    # A local receiver for trying the API by hand: python -m tests.emulators.webhook --port 9000 --delay 1
    import argparse
    import time

    parser = argparse.ArgumentParser(description="A local webhook receiver that accepts JSON deliveries.")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds to wait before each answer")
    parser.add_argument("--api-key", default="", help="require this X-API-Key header on deliveries")
    args = parser.parse_args()
    receiver = WebhookReceiver(port=args.port, required_headers={"X-API-Key": args.api_key} if args.api_key else None)
    receiver.slow("hook", args.delay)
    with receiver:
        print(f"Receiving on {receiver.url}/hooks/<name> (Ctrl-C to stop)")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
