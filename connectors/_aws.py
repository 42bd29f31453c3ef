"""boto3 plumbing for AWS connectors: every request sent by the guarded client, errors in the step vocabulary.

botocore builds and signs each request; a `before-send` handler then sends it through the connector's
OutboundClient (connectors/http.py) and hands botocore the answer, which botocore's event API allows
("None or an instance of AWSResponse"). So the address actually connected to is the one the SSRF guard
resolved, checked and pinned, parsed by the same library that connects (a `\\@` trick in a URL cannot make the
guard check one host while another is reached). The endpoint is also checked when a client is made, so a
refused one fails before anything is signed. Timeouts come from the step, retries are few, the process
environment cannot inject credentials, and botocore/AWS errors become ConnectorErrors without secrets.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import boto3
import botocore.exceptions as boto_errors
from botocore.awsrequest import AWSResponse
from botocore.config import Config

from .runtime.errors import ConnectorError, ErrorCode
from .runtime.http import USER_AGENT, OutboundClient, OutboundPolicy
from .runtime.vendor import ErrorTable, Rule

REGION_PATTERN = "^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$"

_CREDENTIALS = (
    "AWS rejected the credentials: {why}. Check access_key_id and secret_access_key, or create a new access key "
    "for the IAM user."
)
_UNKNOWN_KEY = _CREDENTIALS.replace("{why}", "the access key ID is not known to the store")
# botocore has parsed AWS's error (code, message, status) already; this table maps it. HEAD answers carry no body,
# so their "code" is the status; rules on a code go before rules on a status.
ERRORS = ErrorTable(
    "AWS",
    rules=(
        Rule(ErrorCode.AUTH_INVALID, _UNKNOWN_KEY, vendor_code=("InvalidClientTokenId", "InvalidAccessKeyId")),
        Rule(ErrorCode.AUTH_INVALID, _UNKNOWN_KEY, vendor_code="UnrecognizedClientException"),
        Rule(
            ErrorCode.AUTH_INVALID,
            _CREDENTIALS.replace("{why}", "the secret access key does not match the access key ID"),
            vendor_code="SignatureDoesNotMatch",
        ),
        Rule(
            ErrorCode.AUTH_INVALID,
            _CREDENTIALS.replace("{why}", "the request signature was incomplete"),
            vendor_code="IncompleteSignature",
        ),
        Rule(
            ErrorCode.AUTH_INVALID,
            _CREDENTIALS.replace("{why}", "the session token is malformed or invalid"),
            vendor_code="InvalidToken",
        ),
        Rule(
            ErrorCode.TOKEN_EXPIRED,
            "The temporary AWS credentials have expired; use long-lived access keys or re-issue them.",
            vendor_code=("ExpiredToken", "ExpiredTokenException", "TokenRefreshRequired"),
        ),
        Rule(
            ErrorCode.INVALID_CONFIG,
            "Set region to the bucket's region.{right}",
            vendor_code=("PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException"),
        ),
        Rule(ErrorCode.INVALID_CONFIG, "Set region to the bucket's region.{right}", status=301),
        Rule(
            ErrorCode.INSUFFICIENT_PERMISSIONS,
            _PERMISSION := "Allow {permission} for these credentials (IAM policy, and the bucket policy if it has "
            "one).",
            vendor_code=("AccessDenied", "AccessDeniedException", "AllAccessDisabled", "AccountProblem"),
        ),
        Rule(ErrorCode.INSUFFICIENT_PERMISSIONS, _PERMISSION, status=403),
        Rule(
            ErrorCode.INVALID_CONFIG,
            "The bucket has S3 Object Lock with a default retention period, and the store refused the upload's "
            "integrity header (AWS requires Content-MD5 or an x-amz-checksum-* header there; this connector sends "
            "Content-MD5). On an S3-compatible store, check that it accepts Content-MD5 for Object Lock uploads, or "
            "write to a bucket without a default retention.",
            status=400,
            message="Object Lock",
        ),
        Rule(ErrorCode.NOT_FOUND, vendor_code=("NoSuchBucket", "NoSuchKey", "NotFound", "NoSuchEntity")),
        Rule(ErrorCode.NOT_FOUND, status=404),
        Rule(
            ErrorCode.RATE_LIMITED,
            "AWS is throttling these requests; retry in a few seconds. If S3 keeps answering SlowDown, spread "
            "writes over more prefixes.",
            vendor_code=(
                "SlowDown",
                "Throttling",
                "ThrottlingException",
                "RequestLimitExceeded",
                "TooManyRequestsException",
                "RequestThrottled",
            ),
        ),
        Rule(ErrorCode.RATE_LIMITED, status=429),
    ),
)
# AWS's generic texts that add nothing to the code and status.
_EMPTY_MESSAGES = ("Forbidden", "Not Found", "Moved Permanently", "Bad Request")


def aws_domain(region: str) -> str:
    return "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"


def host_and_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)


class AwsClients:
    """Builds guarded boto3 clients from explicit credentials (never the process's own credential chain)."""

    def __init__(self, policy: OutboundPolicy, region: str, *, http: OutboundClient | None = None):
        self.policy = policy
        self.http = http or OutboundClient(policy)
        self.region = region
        self._session = None
        self._clients: list = []

    def use_credentials(self, access_key_id: str, secret_access_key: str, session_token: str | None = None) -> None:
        # Explicit credentials: the process's own credential chain (env, profile, instance role) is never used.
        self._session = boto3.session.Session(
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            aws_session_token=session_token,
            region_name=self.region,
        )

    def client(self, service: str, *, endpoint_url: str | None, timeout: tuple[float, float], path_style: bool = False):
        if self._session is None:
            raise ConnectorError(ErrorCode.AUTH_INVALID, "No AWS credentials are configured.")
        if endpoint_url:
            self.policy.check_host(*host_and_port(endpoint_url))
        config = Config(
            region_name=self.region,
            connect_timeout=timeout[0],
            read_timeout=timeout[1],
            retries={"total_max_attempts": 2, "mode": "standard"},
            user_agent_extra=USER_AGENT,
            s3={"addressing_style": "path" if path_style else "virtual"},
            # S3-compatible stores reject the newer default CRC checksums. AWS needs an integrity header only in
            # Object Lock buckets, and the S3 probe sends Content-MD5 itself, which every store accepts; botocore's
            # when_supported would instead switch uploads over https to aws-chunked trailer checksums.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            proxies={},  # no proxy from the environment decides where signed requests go
            ignore_configured_endpoint_urls=True,  # nor an AWS_ENDPOINT_URL variable
        )
        verify = self.policy.ca_bundle or True
        client = self._session.client(service, endpoint_url=endpoint_url, config=config, verify=verify)
        client.meta.events.register("before-send", self._send_guarded)
        self._clients.append(client)
        return client

    def _send_guarded(self, request, **_kwargs) -> AWSResponse:
        """Send the signed request botocore prepared through the guarded client, and answer botocore with it."""
        response = self.http.request(
            request.method,
            request.url,
            # botocore keeps some header values as bytes; requests (and its credential recording) want str.
            headers={k: v.decode("latin-1") if isinstance(v, bytes) else v for k, v in request.headers.items()},
            data=request.body,
            allow_redirects=False,
        )
        return AWSResponse(request.url, response.status_code, dict(response.headers), _Body(response.content))

    def call(self, operation: Callable[..., dict], action: str, *, permission: str = "", **params: Any) -> dict:
        """Run one boto3 operation; a failure becomes a ConnectorError naming `action` (and the IAM `permission`)."""
        try:
            return operation(**params)
        except boto_errors.ClientError as exc:
            raise self.client_error(exc, action, permission or action) from None
        except boto_errors.BotoCoreError as exc:
            raise self.transport_error(exc, action) from None

    def close(self) -> None:
        while self._clients:
            self._clients.pop().close()

    @staticmethod
    def client_error(exc: boto_errors.ClientError, action: str, permission: str) -> ConnectorError:
        """The ConnectorError for an AWS error botocore parsed, by the table; AWS text is quoted as-is (the
        connector runtime masks secrets and caps it)."""
        response = exc.response or {}
        error = response.get("Error", {})
        metadata = response.get("ResponseMetadata", {})
        status = metadata.get("HTTPStatusCode") or 0
        headers = metadata.get("HTTPHeaders", {})
        code_text = str(error.get("Code") or status or "")
        vendor_code = None if code_text.isdigit() else code_text  # HEAD answers carry no body, only the status
        aws_message = " ".join(str(error.get("Message") or "").split())
        said = f"AWS answered {action} with HTTP {status}" + (f" {vendor_code}" if vendor_code else "")
        if aws_message and aws_message not in (code_text, *_EMPTY_MESSAGES):
            said += f": {aws_message}"
        said = said.rstrip(".") + "."
        bucket_region = headers.get("x-amz-bucket-region")
        rule = ERRORS.rule_for(status, vendor_code or "", aws_message)
        if bucket_region and status == 400 and (rule is None or rule.code is ErrorCode.INVALID_CONFIG):
            rule = ERRORS.rule_for(301, "", "")  # a 400 naming the bucket's region is the wrong region
        code = rule.code if rule else (ErrorCode.VENDOR_ERROR if status >= 500 else ErrorCode.INVALID_CONFIG)
        right = f" The bucket is in {bucket_region}." if bucket_region else ""
        remediation = (rule.remediation if rule else "").format(permission=permission, right=right)
        wrong_region = code is ErrorCode.INVALID_CONFIG and rule is not None and "region" in rule.remediation
        return ConnectorError(
            code,
            said,
            remediation=remediation,
            http_status=status or None,
            vendor_code=vendor_code,
            retry_after=_seconds(headers.get("retry-after")),
            details={"bucket_region": bucket_region} if wrong_region and bucket_region else {},
        )

    @staticmethod
    def transport_error(exc: boto_errors.BotoCoreError, action: str) -> ConnectorError:
        host = urlsplit(str(getattr(exc, "kwargs", {}).get("endpoint_url", ""))).hostname or "the AWS endpoint"
        if isinstance(exc, boto_errors.SSLError):
            return ConnectorError(ErrorCode.TLS, f"The TLS handshake with {host} failed during {action}.")
        if isinstance(exc, boto_errors.ConnectTimeoutError):
            return ConnectorError(ErrorCode.TIMEOUT, f"Connecting to {host} timed out during {action}.")
        if isinstance(exc, boto_errors.ReadTimeoutError):
            return ConnectorError(ErrorCode.TIMEOUT, f"{host} did not answer {action} in time.")
        if isinstance(exc, boto_errors.EndpointConnectionError | boto_errors.ConnectionClosedError):
            return ConnectorError(ErrorCode.CONNECTION_REFUSED, f"Could not connect to {host} for {action}.")
        if isinstance(exc, boto_errors.NoCredentialsError | boto_errors.PartialCredentialsError):
            return ConnectorError(ErrorCode.AUTH_INVALID, f"No usable AWS credentials for {action}.")
        if isinstance(exc, boto_errors.ParamValidationError):
            return ConnectorError(ErrorCode.INVALID_CONFIG, f"AWS would not accept the parameters of {action}.")
        return ConnectorError(ErrorCode.VENDOR_ERROR, f"{action} failed ({type(exc).__name__}).")


class _Body:
    """The raw body botocore reads an AWSResponse from (`stream()`), already read by the guarded client."""

    def __init__(self, content: bytes):
        self._content = content

    def stream(self, **_kwargs):
        yield self._content


def _seconds(value: str | None) -> float | None:
    if value and re.fullmatch(r"\d+(\.\d+)?", value.strip()):
        return float(value)
    return None
