"""Custom webhook: any HTTPS endpoint that accepts JSON, optionally signed per the Standard Webhooks spec.

Delivery follows the spec's status handling (standard-webhooks.md, "Delivery success and failure"): only a
2xx is success, and a 3xx is a failure, not followed, so the event (and its headers) never go to another
URL; the user is told to configure the final one.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
import uuid
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit, urlunsplit

from standardwebhooks import Webhook

from .runtime.base import Connector, FieldsDescription, Requirement, Step
from .runtime.errors import ConnectorError, ErrorCode
from .runtime.registry import register
from .runtime.schema import config_schema, credential_host, enum, https_url, secret
from .runtime.vendor import ErrorTable, Rule

TEST_EVENT_HEADER = "X-Connection-Test"
SECRET_PREFIX = "whsec_"
MIN_SECRET_BYTES, MAX_SECRET_BYTES = 24, 64  # the spec: "at least 24 bytes (192 bits, 512 maximum)"

ERRORS = ErrorTable(
    "The endpoint",
    rules=(
        Rule(ErrorCode.AUTH_INVALID, "Check the authentication header values.", status=401),
        Rule(
            ErrorCode.INSUFFICIENT_PERMISSIONS, "The endpoint refused these credentials; check its rules.", status=403
        ),
        Rule(ErrorCode.NOT_FOUND, "Check the URL path; the endpoint does not exist.", status=404),
        Rule(ErrorCode.INVALID_CONFIG, "The endpoint does not accept {method}; change `method`.", status=405),
        Rule(ErrorCode.TIMEOUT, "The endpoint timed out reading the event; check its health and retry.", status=408),
        Rule(
            ErrorCode.INVALID_CONFIG,
            "The endpoint answered 410 Gone: it no longer accepts events. Point `url` at a live endpoint.",
            status=410,
        ),
        Rule(ErrorCode.INVALID_CONFIG, "The endpoint refused the body size; raise its body limit.", status=413),
    ),
)


def signing_secret_problem(value: str) -> str | None:
    """Why a signing secret is not a Standard Webhooks symmetric secret (`whsec_` + base64), or None."""
    if not value.startswith(SECRET_PREFIX):
        return f"Must be a Standard Webhooks secret: `{SECRET_PREFIX}` followed by base64."
    try:
        key = base64.b64decode(value[len(SECRET_PREFIX) :] + "==", validate=False)
    except (binascii.Error, ValueError):
        return f"The part after `{SECRET_PREFIX}` must be base64."
    if not MIN_SECRET_BYTES <= len(key) <= MAX_SECRET_BYTES:
        return f"The key must decode to {MIN_SECRET_BYTES}-{MAX_SECRET_BYTES} bytes."
    return None


@register
class WebhookConnector(Connector):
    type = "webhook"
    label = "Custom webhook"
    try_first = True
    example_config = {
        "url": "https://api.example.com/webhook",
        "method": "POST",
        "headers": {"X-API-Key": "your-api-key"},
    }
    auth_method = "Static headers (e.g. an API key or Bearer token), optional Standard Webhooks signature"
    config_schema = config_schema(
        "Webhook",
        "Delivers JSON to your endpoint. Authenticate with static headers (every header value is treated "
        "as a secret). Optionally sign each delivery as the Standard Webhooks spec says (headers "
        "`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256>`), verifiable "
        "with its published libraries. Redirects are not followed: configure the final URL.",
        {
            "url": credential_host(
                https_url("The endpoint that receives the events (the final URL: redirects are not followed).")
            ),
            "method": enum("HTTP method used to deliver.", ["POST", "PUT", "PATCH"], default="POST"),
            "headers": {
                "type": "object",
                "writeOnly": True,
                "description": "Static headers sent with every request; values are secret.",
                "additionalProperties": {"type": "string"},
                "propertyNames": {"pattern": "^[A-Za-z0-9!#$%&'*+.^_`|~-]+$"},
            },
            "signing_secret": secret(
                "Optional Standard Webhooks signing secret: `whsec_` followed by 24-64 random bytes in base64."
            ),
        },
        ["url"],
    )
    steps = (
        Step("connectivity", "DNS resolves, TCP connects and (for https) the TLS certificate is valid.", 10),
        Step(
            "delivery",
            "A clearly marked test event is delivered with the configured method, headers and signature and "
            "answered 2xx (a redirect fails: it is not followed).",
            15,
            writes=True,
            proves=(
                Requirement(
                    "the endpoint accepts an event delivery (2xx)",
                    "https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md",
                    proof="the delivery itself: one event marked X-Connection-Test: true, sent as a sync sends them",
                ),
            ),
        ),
    )

    @classmethod
    def check_config(cls, config: dict) -> list[tuple[str, str]]:
        value = config.get("signing_secret")
        problem = signing_secret_problem(value) if isinstance(value, str) and value else None
        return [("signing_secret", problem)] if problem else []

    def check_connectivity(self):
        return self.reach(self.config["url"], method="HEAD")

    def check_delivery(self):
        body = json.dumps(
            {
                "type": "connection_test",
                "id": str(uuid.uuid4()),
                "sent_at": datetime.now(UTC).isoformat(),
                "message": "Connection test from the Destinations service; safe to ignore.",
            }
        )
        headers = {"Content-Type": "application/json", TEST_EVENT_HEADER: "true", **self.config.get("headers", {})}
        if self.config.get("signing_secret"):
            headers.update(self.signature_headers(body))
        method = self.config.get("method", "POST")
        started = time.monotonic()
        response = self.http.request(
            method, self.config["url"], data=body.encode(), headers=headers, allow_redirects=False
        )
        latency = int((time.monotonic() - started) * 1000)
        details = {"http_status": response.status_code, "latency_ms": latency}
        if 200 <= response.status_code < 300:
            signed = " signed," if self.config.get("signing_secret") else ""
            return f"{method} test event{signed} accepted with HTTP {response.status_code} in {latency} ms.", details
        if 300 <= response.status_code < 400:
            raise self._redirect_error(response)
        raise ERRORS.error(response, context={"method": method}, details={"latency_ms": latency})

    def signature_headers(self, body: str) -> dict[str, str]:
        """The spec's three headers; the signature covers `{webhook-id}.{webhook-timestamp}.{body}`."""
        message_id = f"msg_{uuid.uuid4().hex}"
        timestamp = datetime.now(UTC).replace(microsecond=0)
        signature = Webhook(self.config["signing_secret"]).sign(message_id, timestamp, body)
        return {
            "webhook-id": message_id,
            "webhook-timestamp": str(int(timestamp.timestamp())),
            "webhook-signature": signature,
        }

    def _redirect_error(self, response) -> ConnectorError:
        location = response.headers.get("Location")
        target = ""
        if location:
            parts = urlsplit(urljoin(self.config["url"], location))
            target = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))  # the query may hold a token
        said = f" to {target}" if target else ""
        return ConnectorError(
            ErrorCode.INVALID_CONFIG,
            f"The endpoint answered HTTP {response.status_code}, a redirect{said}; webhooks are not redirected.",
            remediation=f"Use the final URL{' (' + target + ')' if target else ''} as `url`.",
            http_status=response.status_code,
            details={"http_status": response.status_code, **({"location": target} if target else {})},
        )

    def describe_fields(self) -> FieldsDescription:
        return FieldsDescription(
            object="payload",
            source="static",
            fields=[],
            options={
                "free_form": True,
                "content_type": "application/json",
                "method": self.config.get("method", "POST"),
                "shape": "Each record is sent as one JSON object whose keys are the mapped field names.",
                "signed": bool(self.config.get("signing_secret")),
            },
        )
