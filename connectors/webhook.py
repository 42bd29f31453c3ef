"""Custom webhook: any HTTPS endpoint that accepts JSON."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from datetime import UTC, datetime
from urllib.parse import urlsplit

from .base import Connector, FieldsDescription, Step
from .errors import ConnectorError, ErrorCode
from .http import error_for_status
from .registry import register
from .schema import config_schema, credential_host, enum, https_url, secret

TEST_EVENT_HEADER = "X-Connection-Test"
SIGNATURE_HEADER = "X-Webhook-Signature"


@register
class WebhookConnector(Connector):
    type = "webhook"
    label = "Custom webhook"
    auth_method = "Static headers (e.g. an API key or Bearer token), optional HMAC-SHA256 body signature"
    config_schema = config_schema(
        "Webhook",
        "Delivers JSON to your endpoint. Authenticate with static headers (every header value is treated "
        "as a secret). Optionally sign each body with HMAC-SHA256 over `timestamp.body`, sent in "
        f"{SIGNATURE_HEADER} as `t=<unix>,v1=<hex>`.",
        {
            "url": credential_host(https_url("The endpoint that receives the events.")),
            "method": enum("HTTP method used to deliver.", ["POST", "PUT", "PATCH"], default="POST"),
            "headers": {
                "type": "object",
                "writeOnly": True,
                "description": "Static headers sent with every request; values are secret.",
                "additionalProperties": {"type": "string"},
                "propertyNames": {"pattern": "^[A-Za-z0-9!#$%&'*+.^_`|~-]+$"},
            },
            "signing_secret": secret("Optional HMAC-SHA256 signing secret."),
        },
        ["url"],
    )
    steps = (
        Step("connectivity", "DNS resolves, TCP connects and (for https) the TLS certificate is valid.", 10),
        Step(
            "delivery",
            "A clearly marked test event is delivered with the configured method and headers and answered 2xx.",
            15,
            writes=True,
        ),
    )

    @property
    def host(self) -> str:
        return urlsplit(self.config["url"]).hostname or ""

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
        ).encode()
        headers = {"Content-Type": "application/json", TEST_EVENT_HEADER: "true", **self.config.get("headers", {})}
        if self.config.get("signing_secret"):
            timestamp = str(int(time.time()))
            digest = hmac.new(
                self.config["signing_secret"].encode(), timestamp.encode() + b"." + body, hashlib.sha256
            ).hexdigest()
            headers[SIGNATURE_HEADER] = f"t={timestamp},v1={digest}"
        method = self.config.get("method", "POST")
        started = time.monotonic()
        response = self.http.request(method, self.config["url"], data=body, headers=headers)
        latency = int((time.monotonic() - started) * 1000)
        details = {"http_status": response.status_code, "latency_ms": latency}
        if 200 <= response.status_code < 300:
            return f"{method} test event accepted with HTTP {response.status_code} in {latency} ms.", details
        raise self._delivery_error(response, method)

    def _delivery_error(self, response, method: str) -> ConnectorError:
        status = response.status_code
        hints = {
            401: (ErrorCode.AUTH_INVALID, "Check the authentication header values."),
            403: (ErrorCode.INSUFFICIENT_PERMISSIONS, "The endpoint refused these credentials; check its rules."),
            404: (ErrorCode.NOT_FOUND, "Check the URL path; the endpoint does not exist."),
            405: (ErrorCode.INVALID_CONFIG, f"The endpoint does not accept {method}; change `method`."),
            413: (ErrorCode.INVALID_CONFIG, "The endpoint refused the body size; raise its body limit."),
        }
        if 300 <= status < 400:
            return ConnectorError(
                ErrorCode.INVALID_CONFIG,
                f"The endpoint answered HTTP {status} (a redirect) instead of accepting the event.",
                remediation="Use the final URL the endpoint redirects to.",
                http_status=status,
            )
        code, remediation = hints.get(status, (None, ""))
        error = error_for_status(response, "The endpoint", code=code, remediation=remediation)
        error.details = {"http_status": status}
        return error

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
            },
        )
