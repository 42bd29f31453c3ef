"""S3 and STS as moto serves them over real HTTP, plus steering for answers moto cannot give on its own.

moto's ThreadedMotoServer answers S3 and STS on one loopback port (it tells them apart by the SigV4
credential scope). Its IAM enforcement (switched on over HTTP with /moto-api/reset-auth) produces the real
InvalidClientTokenId, SignatureDoesNotMatch and AccessDenied answers. For what moto never answers (expired
tokens, SlowDown, a bucket in another region answering 301, slow answers) a thin WSGI layer in front of moto
answers in S3's or STS's own error format. Operations are named "<service>:<Operation>", e.g. "s3:HeadBucket",
"sts:GetCallerIdentity"; "root" is an unsigned request.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from io import BytesIO
from urllib.parse import parse_qs

import boto3
import requests
from botocore.config import Config
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from werkzeug.wrappers import Response

ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
DEFAULT_BUCKET = "destinations-test"
DEFAULT_REGION = "us-east-1"
ALL_ACTIONS = ("s3:*", "sts:GetCallerIdentity", "sts:AssumeRole")

SCOPE = re.compile(r"Credential=[^/]+/\d{8}/([^/]+)/([^/]+)/aws4_request")

# What S3/STS say for the errors moto cannot produce by itself.
MESSAGES = {
    "ExpiredToken": "The security token included in the request is expired",
    "SlowDown": "Please reduce your request rate.",
    "InternalError": "We encountered an internal error. Please try again.",
    "ServiceUnavailable": "Service is unable to handle request.",
    "AccessDenied": "Access Denied",
    "PermanentRedirect": "The bucket you are attempting to access must be addressed using the specified endpoint.",
    "Throttling": "Rate exceeded",
}


@dataclass
class AwsCall:
    operation: str
    method: str
    path: str
    headers: dict
    region: str = ""
    params: dict = field(default_factory=dict)  # STS form parameters


@dataclass
class _Forced:
    status: int
    code: str
    headers: dict = field(default_factory=dict)
    times: int | None = None
    message: str = ""


class _Steering:
    """WSGI middleware in front of moto: records calls, delays them, or answers them as S3/STS fail."""

    def __init__(self, app, owner: S3Emulator):
        self.app = app
        self.owner = owner

    def __call__(self, environ, start_response):
        headers = {k[5:].replace("_", "-").title(): v for k, v in environ.items() if k.startswith("HTTP_")}
        scope = SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
        region, service = scope.groups() if scope else ("", "")
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "/")
        params = {}
        if service == "sts":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = BytesIO(body)
            params = {k: v[0] for k, v in parse_qs(body.decode()).items()}
            operation = f"sts:{params.get('Action', 'Unknown')}"
        elif service == "s3":
            operation = f"s3:{_s3_operation(method, path, environ.get('QUERY_STRING', ''))}"
        else:
            operation = "root" if path.strip("/") == "" else "unsigned"
        self.owner._record(AwsCall(operation, method, path, headers, region, params))
        delay = self.owner._delays.get(operation, self.owner._delays.get("*", 0.0))
        if delay:
            time.sleep(delay)
        forced = self.owner._take_forced(operation)
        if forced is not None:
            return _error_response(forced, service, method)(environ, start_response)
        return self.app(environ, start_response)


def _s3_operation(method: str, path: str, query: str) -> str:
    parts = path.lstrip("/").split("/", 1)
    has_key = len(parts) == 2 and parts[1] != ""
    if not parts[0]:
        return "ListBuckets"
    if has_key:
        return {"HEAD": "HeadObject", "GET": "GetObject", "PUT": "PutObject", "DELETE": "DeleteObject"}.get(
            method, "PostObject"
        )
    if method == "GET" and "location" in parse_qs(query, keep_blank_values=True):
        return "GetBucketLocation"
    return {"HEAD": "HeadBucket", "GET": "ListObjects", "PUT": "CreateBucket", "DELETE": "DeleteBucket"}.get(
        method, "PostBucket"
    )


def _error_response(forced: _Forced, service: str, method: str) -> Response:
    request_id = uuid.uuid4().hex.upper()[:16]
    message = forced.message or MESSAGES.get(forced.code, forced.code)
    headers = {"x-amz-request-id": request_id, **forced.headers}
    if method == "HEAD":  # S3 answers HEAD errors without a body; botocore then uses the status as the code
        return Response(b"", status=forced.status, headers=headers)
    if service == "sts":
        body = (
            '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
            f"<Error><Type>{'Receiver' if forced.status >= 500 else 'Sender'}</Type><Code>{forced.code}</Code>"
            f"<Message>{message}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        )
        return Response(body, status=forced.status, headers=headers, content_type="text/xml")
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f"<Error><Code>{forced.code}</Code><Message>{message}</Message>"
        f"<RequestId>{request_id}</RequestId><HostId>{uuid.uuid4().hex}</HostId></Error>"
    )
    return Response(body, status=forced.status, headers=headers, content_type="application/xml")


class S3Emulator:
    """moto's server on 127.0.0.1:<free port>, with a default bucket, IAM users on demand and steering."""

    def __init__(self, *, buckets: dict[str, str] | None = None):
        self.buckets = {DEFAULT_BUCKET: DEFAULT_REGION} if buckets is None else dict(buckets)
        self.calls: list[AwsCall] = []
        self._forced: dict[str, _Forced] = {}
        self._delays: dict[str, float] = {}
        self._lock = threading.Lock()
        self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._started = False

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> S3Emulator:
        self._moto.start()
        server = self._moto._server  # the werkzeug server moto started; put the steering layer in front of it
        server.app = _Steering(server.app, self)
        self._started = True
        requests.post(f"{self.url}/moto-api/reset", timeout=5)
        for name, region in self.buckets.items():
            self.create_bucket(name, region)
        self.calls.clear()
        return self

    def stop(self) -> None:
        if self._started:
            self.enforce_iam(False)
            requests.post(f"{self.url}/moto-api/reset", timeout=5)
            self._moto.stop()
            self._started = False

    def __enter__(self) -> S3Emulator:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        host, port = self._moto.get_host_and_port()
        return f"http://{host}:{port}"

    # --- vendor state ---------------------------------------------------------------------------

    def admin(self, service: str, region: str = DEFAULT_REGION):
        """A boto3 client for setting up state (before enforce_iam) and inspecting it."""
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=region,
            aws_access_key_id=ACCESS_KEY_ID,
            aws_secret_access_key=SECRET_ACCESS_KEY,
            config=Config(s3={"addressing_style": "path"}),
        )

    def create_bucket(self, name: str, region: str = DEFAULT_REGION) -> None:
        params = {"Bucket": name}
        if region != "us-east-1":
            params["CreateBucketConfiguration"] = {"LocationConstraint": region}
        self.admin("s3", region).create_bucket(**params)
        self.buckets[name] = region

    def create_locked_bucket(self, name: str, days: int = 1, mode: str = "GOVERNANCE") -> None:
        """A bucket with S3 Object Lock and a default retention: moto then refuses a PutObject without Content-MD5
        or a checksum algorithm header (400), as AWS documents, and keeps each object version until retention ends."""
        s3 = self.admin("s3")
        s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
        s3.put_object_lock_configuration(
            Bucket=name,
            ObjectLockConfiguration={
                "ObjectLockEnabled": "Enabled",
                "Rule": {"DefaultRetention": {"Mode": mode, "Days": days}},
            },
        )
        self.buckets[name] = DEFAULT_REGION

    def object_versions(self, bucket: str) -> list[str]:
        return [v["Key"] for v in self.admin("s3").list_object_versions(Bucket=bucket).get("Versions", [])]

    def object_keys(self, bucket: str = DEFAULT_BUCKET) -> list[str]:
        return [o["Key"] for o in self.admin("s3").list_objects_v2(Bucket=bucket).get("Contents", [])]

    def add_user(self, name: str, actions=ALL_ACTIONS, deny=()) -> tuple[str, str]:
        """An IAM user allowed `actions` (and denied `deny`) on every resource; returns its access key pair."""
        iam = self.admin("iam")
        iam.create_user(UserName=name)
        statements = [{"Effect": "Allow", "Action": list(actions), "Resource": "*"}]
        if deny:
            statements.append({"Effect": "Deny", "Action": list(deny), "Resource": "*"})
        iam.put_user_policy(
            UserName=name,
            PolicyName="destinations",
            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}),
        )
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return key["AccessKeyId"], key["SecretAccessKey"]

    def enforce_iam(self, on: bool = True) -> None:
        """From now on, check signatures and IAM policies like AWS does (moto's own enforcement)."""
        requests.post(f"{self.url}/moto-api/reset-auth", data=b"0" if on else b"inf", timeout=5)

    # --- steering -------------------------------------------------------------------------------

    def fail(self, operation: str, status: int, code: str = "", *, headers=None, times=None, message="") -> None:
        """Answer `operation` ("s3:HeadBucket", "sts:GetCallerIdentity", …) with an AWS error of this code."""
        self._forced[operation] = _Forced(status, code or str(status), headers or {}, times, message)

    def rate_limit(self, operation: str = "s3:PutObject") -> None:
        service = operation.split(":")[0]
        self.fail(operation, 503 if service == "s3" else 400, "SlowDown" if service == "s3" else "Throttling")

    def server_error(self, operation: str) -> None:
        self.fail(operation, 500, "InternalError")

    def slow(self, operation: str, seconds: float) -> None:
        self._delays[operation] = seconds

    def reset(self) -> None:
        self._forced.clear()
        self._delays.clear()
        self.calls.clear()

    def calls_to(self, operation: str) -> list[AwsCall]:
        return [call for call in self.calls if call.operation == operation]

    def _record(self, call: AwsCall) -> None:
        with self._lock:
            self.calls.append(call)

    def _take_forced(self, operation: str) -> _Forced | None:
        with self._lock:
            forced = self._forced.get(operation)
            if forced is not None and forced.times is not None:
                forced.times -= 1
                if forced.times <= 0:
                    del self._forced[operation]
            return forced


def valid_config(emulator: S3Emulator) -> dict:
    """Passes every step when CONNECTOR_BASE_URLS = {"s3": emulator.url} (no endpoint_url: the base URL is used)."""
    return {
        "bucket": DEFAULT_BUCKET,
        "region": DEFAULT_REGION,
        "prefix": "exports/crm",
        "access_key_id": ACCESS_KEY_ID,
        "secret_access_key": SECRET_ACCESS_KEY,
        "file_format": "jsonl",
        "compression": "gzip",
    }


EMULATOR = S3Emulator
