"""A workspace's notification endpoint: verifies each delivery as the Standard Webhooks spec says, with the
`standardwebhooks` library's Webhook.verify, and records what it accepted."""

from standardwebhooks import Webhook, WebhookVerificationError
from werkzeug.routing import Rule

from .base import Emulator


class NotificationReceiver(Emulator):
    rules = (Rule("/notifications", endpoint="notify", methods=["POST"]),)

    def __init__(self, *, secret: str = "", **kwargs):
        super().__init__(**kwargs)
        self.secret = secret

    def reset_state(self) -> None:
        self.verified: list[dict] = []
        self.rejected = 0

    def on_notify(self, request):
        try:
            payload = Webhook(self.secret).verify(request.get_data(), dict(request.headers))
        except WebhookVerificationError:
            self.rejected += 1
            return self.json({"error": "bad signature"}, 400)
        self.verified.append({"id": request.headers["webhook-id"], "payload": payload})
        return self.json({"ok": True})
