"""Amazon S3 (and S3-compatible stores): files of synced rows written under a bucket prefix, through boto3."""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from urllib.parse import urlsplit

from ._aws import REGION_PATTERN, AwsClients, aws_domain
from ._files import file_fields, file_format_properties
from .runtime.base import Connector, FieldsDescription, Requirement, Step
from .runtime.errors import ConnectorError, ErrorCode
from .runtime.registry import register
from .runtime.schema import config_schema, credential_host, https_url, secret, string

PROBE_FOLDER = "_connection_test"
PROBE_BODY = b"Connection test from the Destinations service; safe to delete.\n"
PUT_OBJECT_DOC = "https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html"
ROLE_SESSION_NAME = "destinations-connection-test"


@register
class S3Connector(Connector):
    type = "s3"
    label = "Amazon S3"
    example_config = {
        "bucket": "my-company-exports",
        "region": "eu-west-1",
        "prefix": "exports/crm",
        "access_key_id": "AKIAIOSFODNN7EXAMPLE",
        "secret_access_key": "your-secret-access-key",
        "file_format": "jsonl",
    }
    auth_method = "IAM access key pair (SigV4 via boto3), optionally assuming an IAM role with an external ID"
    config_schema = config_schema(
        "Amazon S3",
        "Writes CSV, JSON Lines or Parquet files under a prefix of an S3 bucket, or of an S3-compatible store "
        "(set endpoint_url). Authenticates with an IAM user's access key pair, signed with SigV4 by boto3; set "
        "role_arn (and external_id) to assume a role in the bucket owner's account first, the recommended "
        "cross-account set-up. The credentials need s3:PutObject under the prefix (s3:ListBucket on the bucket and "
        "s3:DeleteObject under the prefix let the test check the region and remove its probe; without them it "
        "warns). Alternatives not offered here: this service's own "
        "workload identity, or temporary session credentials.",
        {
            "bucket": string(
                "Bucket name.",
                pattern="^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
                **{"x-pattern-message": "Must be a valid S3 bucket name (3-63 lowercase letters, digits, . and -)."},
            ),
            "region": string(
                "AWS region of the bucket, e.g. eu-west-1.",
                pattern=REGION_PATTERN,
                **{"x-pattern-message": "Must be an AWS region code such as us-east-1."},
            ),
            "prefix": string("Key prefix the files are written under, e.g. exports/crm (no leading slash)."),
            "access_key_id": string("Access key ID of the IAM user (AKIA…)."),
            "secret_access_key": secret("Secret access key of the IAM user."),
            "role_arn": string(
                "Optional IAM role to assume before writing.",
                pattern="^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]+$",
                **{"x-pattern-message": "Must be an IAM role ARN, arn:aws:iam::<12-digit account>:role/<name>."},
            ),
            "external_id": string(
                "External ID the role's trust policy requires (only with role_arn).",
                pattern="^[A-Za-z0-9+=,.@:/_-]{2,1224}$",
                **{"x-pattern-message": "Must be 2-1224 characters: letters, digits and +=,.@:/-_."},
            ),
            **file_format_properties(),
            "endpoint_url": credential_host(
                https_url(
                    "Endpoint of an S3-compatible store (MinIO, R2, …); leave empty for AWS.",
                    # No user-info and no backslash: URL parsers disagree on them (`http://a\\@b` is host b to
                    # one, host a to another), and signed requests must go where the address check looked.
                    pattern=r"^https?://[^\s/?#\\@]+(?:[/?#][^\s\\]*)?$",
                    **{
                        "x-pattern-message": "Must be an http(s) URL with a host, without user-info (user@) or "
                        "backslashes."
                    },
                )
            ),
        },
        ["bucket", "region", "access_key_id", "secret_access_key", "file_format"],
    )
    steps = (
        Step(
            "connectivity",
            "DNS resolves, TCP connects and TLS is valid for the S3 and STS endpoints (with endpoint_url: that "
            "endpoint only).",
            10,
        ),
        Step(
            "authentication",
            "AWS accepts the access key (STS GetCallerIdentity); with role_arn, the role can be assumed first. With "
            "endpoint_url (R2, MinIO…, which have no STS) no STS call is made: the bucket and write steps prove the "
            "key (AssumeRole is still sent there if role_arn is set).",
            15,
        ),
        Step(
            "bucket",
            "The bucket exists, these credentials can see it (HeadBucket; ListObjectsV2 on an S3-compatible "
            "endpoint, whose error body tells a rejected key from a missing permission) and it is in `region`. Both "
            "need s3:ListBucket, which a sync does not: without it the step passes with a warning and the write "
            "step decides.",
            10,
        ),
        Step(
            "write",
            "A small probe object can be written under the prefix (PutObject with Content-MD5, which buckets with an "
            "Object Lock default retention require), and is deleted again (DeleteObject, of its version when the "
            "bucket is versioned).",
            15,
            writes=True,
            proves=(
                Requirement(
                    "s3:PutObject on arn:aws:s3:::<bucket>/<prefix>/*",
                    PUT_OBJECT_DOC,
                    proof="PutObject of a small probe object under the prefix, deleted again where s3:DeleteObject "
                    "(s3:DeleteObjectVersion in a versioned bucket) and Object Lock allow; AWS documents no "
                    "side-effect-free check of a bucket policy's PutObject grant",
                ),
            ),
        ),
    )
    default_base_url = "https://s3.amazonaws.com"

    def __init__(self, config, *, policy=None):
        super().__init__(config, policy=policy)
        self.aws = AwsClients(self.policy, self.config.get("region", ""), http=self.http)
        if self.config.get("access_key_id") and self.config.get("secret_access_key"):
            self.aws.use_credentials(self.config["access_key_id"], self.config["secret_access_key"])

    @classmethod
    def check_config(cls, config: dict) -> list[tuple[str, str]]:
        errors = []
        if config.get("prefix", "").startswith("/"):
            errors.append(("prefix", "Must not start with a slash; S3 keys are relative to the bucket."))
        if config.get("external_id") and not config.get("role_arn"):
            errors.append(("external_id", "Only used together with role_arn."))
        return errors

    # --- endpoints ------------------------------------------------------------------------------

    @property
    def bucket(self) -> str:
        return self.config["bucket"]

    @property
    def prefix(self) -> str:
        return self.config.get("prefix", "").strip("/")

    def _overridden(self) -> bool:
        return bool(self.config.get("endpoint_url") or self.policy.base_urls.get(self.type))

    def _s3_url(self) -> str:
        if self.config.get("endpoint_url"):
            return self.config["endpoint_url"].rstrip("/")
        region = self.config["region"]
        return self.vendor_url(f"https://s3.{region}.{aws_domain(region)}")

    def _sts_url(self) -> str:
        if self.config.get("endpoint_url"):
            return self.config["endpoint_url"].rstrip("/")
        region = self.config["region"]
        return self.vendor_url(f"https://sts.{region}.{aws_domain(region)}")

    def _client(self, service: str):
        # Plain AWS S3: botocore resolves the (virtual-hosted) bucket endpoint itself.
        s3_endpoint = self._s3_url() if self._overridden() else None
        endpoint = self._sts_url() if service == "sts" else s3_endpoint
        return self.aws.client(service, endpoint_url=endpoint, timeout=self.http.timeout, path_style=self._overridden())

    def run_step(self, step, *, deadline=None):
        try:
            return super().run_step(step, deadline=deadline)
        finally:
            self.aws.close()

    # --- steps ----------------------------------------------------------------------------------

    def check_connectivity(self):
        details, reached = {}, []
        for label, url in (("s3", self._s3_url()), ("sts", self._sts_url())):
            host = urlsplit(url).hostname or ""
            if label == "sts" and url == self._s3_url():
                details["sts_endpoint"] = host
                continue
            started = time.monotonic()
            response = self.http.request("HEAD", f"{url}/", allow_redirects=False)
            latency = int((time.monotonic() - started) * 1000)
            details[f"{label}_endpoint"] = host
            details[f"{label}_latency_ms"] = latency
            reached.append(f"{host} (HTTP {response.status_code}, {latency} ms)")
        tls = " over TLS" if all(u.startswith("https") for u in (self._s3_url(), self._sts_url())) else ""
        return f"Reached {' and '.join(reached)}{tls}.", details

    def check_authentication(self):
        details = {}
        if self.config.get("role_arn"):
            params = {
                "RoleArn": self.config["role_arn"],
                "RoleSessionName": ROLE_SESSION_NAME,
                "DurationSeconds": 900,
            }
            if self.config.get("external_id"):
                params["ExternalId"] = self.config["external_id"]
            try:
                answer = self.aws.call(
                    self._client("sts").assume_role, "AssumeRole", permission="sts:AssumeRole", **params
                )
            except ConnectorError as error:
                if error.code is ErrorCode.INSUFFICIENT_PERMISSIONS:
                    error.remediation = (
                        "The role's trust policy must allow this IAM user to call sts:AssumeRole"
                        + (" with the configured external_id" if self.config.get("external_id") else "")
                        + ", and the user's own policy must allow sts:AssumeRole on the role."
                    )
                raise
            credentials = answer["Credentials"]
            self.remember_secret(credentials["SecretAccessKey"], credentials["SessionToken"])
            self.aws.use_credentials(
                credentials["AccessKeyId"], credentials["SecretAccessKey"], credentials["SessionToken"]
            )
            details["assumed_role"] = answer.get("AssumedRoleUser", {}).get("Arn", "")
        if self.config.get("endpoint_url"):
            # S3-compatible stores have no STS (GetCallerIdentity is AWS's); the next steps' signed calls prove
            # the key, and a rejected one fails there as auth_invalid.
            details.update({"sts": False, "proven_by": ["bucket", "write"]})
            host = urlsplit(self.config["endpoint_url"]).hostname
            via = "The role was assumed; " if self.config.get("role_arn") else ""
            return (
                f"{via}{host} is an S3-compatible endpoint without STS: the access key is proven by the bucket and "
                "write steps.",
                details,
            )
        identity = self.aws.call(self._client("sts").get_caller_identity, "GetCallerIdentity")
        details.update({"account": identity.get("Account", ""), "arn": identity.get("Arn", "")})
        via = " after assuming the role" if self.config.get("role_arn") else ""
        return f"AWS accepted the credentials{via}: {details['arn']} in account {details['account']}.", details

    def check_bucket(self):
        permission = f"s3:ListBucket on arn:aws:s3:::{self.bucket}"
        s3 = self._client("s3")
        try:
            if self.config.get("endpoint_url"):
                # Same permission as HeadBucket, but a GET: its XML error body names InvalidAccessKeyId or
                # SignatureDoesNotMatch, where a HEAD answers a bare 403. This call proves the key on such stores.
                answer = self.aws.call(
                    s3.list_objects_v2,
                    "ListObjectsV2",
                    permission=permission,
                    Bucket=self.bucket,
                    MaxKeys=1,
                    Prefix=self.prefix,
                )
            else:
                answer = self.aws.call(s3.head_bucket, "HeadBucket", permission=permission, Bucket=self.bucket)
        except ConnectorError as error:
            if error.code is ErrorCode.INSUFFICIENT_PERMISSIONS:
                return self._unlisted_bucket(error)
            raise self._bucket_error(error) from None
        headers = answer.get("ResponseMetadata", {}).get("HTTPHeaders", {})
        actual = headers.get("x-amz-bucket-region")
        if actual and actual != self.config["region"]:
            raise self._wrong_region(actual)
        details = {"bucket": self.bucket, "region": actual or self.config["region"]}
        where = f" in {actual}" if actual else ""
        return f"Bucket {self.bucket} exists{where} and these credentials can see it.", details

    def _unlisted_bucket(self, error: ConnectorError) -> tuple[str, dict]:
        """A write-only policy (no s3:ListBucket) is enough for syncs: say what could not be checked, and let the
        write step prove the bucket and the permission that matter."""
        warning = (
            f"These credentials may not list the bucket {self.bucket} ({error.vendor_code or error.http_status}), "
            "so its existence and region are left to the write step. Syncs do not need s3:ListBucket; allow it on "
            f"arn:aws:s3:::{self.bucket} for a clearer diagnosis when the bucket or region is wrong."
        )
        details = {"bucket": self.bucket, "region": self.config["region"], "listed": False, "warnings": [warning]}
        return f"Bucket {self.bucket} could not be listed; the write step checks it. Warning: {warning}", details

    def _bucket_error(self, error: ConnectorError) -> ConnectorError:
        if error.code is ErrorCode.NOT_FOUND:
            error.message = f"The bucket {self.bucket} does not exist; {error.message}"
            error.remediation = "Check the bucket name; S3 bucket names are global and case-sensitive."
        elif error.code is ErrorCode.INVALID_CONFIG and error.details.get("bucket_region"):
            return self._wrong_region(error.details["bucket_region"], error.http_status)
        elif error.code is ErrorCode.INSUFFICIENT_PERMISSIONS:
            error.message = f"These credentials may not access the bucket {self.bucket}; {error.message}"
        return error

    def _wrong_region(self, actual: str, status: int | None = None) -> ConnectorError:
        return ConnectorError(
            ErrorCode.INVALID_CONFIG,
            f"The bucket {self.bucket} is in {actual}, not in the configured region {self.config['region']}.",
            remediation=f"Set region to {actual}.",
            http_status=status,
            details={"bucket_region": actual},
        )

    def check_write(self):
        key = f"{self.prefix}/{PROBE_FOLDER}/{uuid.uuid4().hex}.txt".lstrip("/")
        s3 = self._client("s3")
        resource = f"arn:aws:s3:::{self.bucket}/{self.prefix + '/' if self.prefix else ''}*"
        written = self.aws.call(
            s3.put_object,
            "PutObject",
            permission=f"s3:PutObject on {resource}",
            Bucket=self.bucket,
            Key=key,
            Body=PROBE_BODY,
            ContentType="text/plain",
            # An Object Lock default retention refuses uploads without an integrity header; Content-MD5 is the one
            # AWS and the S3-compatible stores all accept.
            ContentMD5=base64.b64encode(hashlib.md5(PROBE_BODY).digest()).decode(),  # noqa: S324 (not security)
        )
        details = {"probe_key": key, "deleted": True}
        # In a versioned bucket (every Object Lock bucket is) a plain delete only hides the probe behind a delete
        # marker; deleting its version removes it, or tells that retention keeps it.
        delete = {"Bucket": self.bucket, "Key": key}
        if written.get("VersionId") not in (None, "null"):
            delete["VersionId"] = written["VersionId"]
        permission = "s3:DeleteObjectVersion" if "VersionId" in delete else "s3:DeleteObject"
        try:
            self.aws.call(s3.delete_object, "DeleteObject", permission=f"{permission} on {resource}", **delete)
        except ConnectorError as error:
            # Syncs only add files, so writing is proven; but say clearly that the probe is left behind.
            warning = (
                f"The probe object s3://{self.bucket}/{key} could not be deleted ({error.vendor_code or error.code}); "
                f"delete it yourself (an Object Lock retention keeps it until the period ends), or allow {permission} "
                f"on {resource} so tests clean up after themselves."
            )
            details.update({"deleted": False, "cleanup_error": str(error.code), "warnings": [warning]})
            return f"Wrote a probe object to s3://{self.bucket}/{key}. Warning: {warning}", details
        return f"Wrote and deleted a probe object under s3://{self.bucket}/{self.prefix}.", details

    # --- fields ---------------------------------------------------------------------------------

    def describe_fields(self) -> FieldsDescription:
        return file_fields(self.config, location=f"s3://{self.bucket}/{self.prefix + '/' if self.prefix else ''}")
