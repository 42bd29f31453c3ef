"""Google Cloud Storage as a destination: sync output lands as files under a bucket prefix."""

from __future__ import annotations

import uuid
from urllib.parse import quote

from ._files import file_fields, file_format_properties
from ._google import (
    EXAMPLE_SERVICE_ACCOUNT_JSON,
    SERVICE_ACCOUNT_FIELD,
    GoogleServiceAccountConnector,
    google_common_steps,
    service_account_property,
)
from .runtime.base import FieldsDescription, Step
from .runtime.errors import ConnectorError, ErrorCode
from .runtime.registry import register
from .runtime.schema import config_schema, string

SCOPE = "https://www.googleapis.com/auth/devstorage.read_write"
# create: write files; delete: GCS needs it to overwrite an object and to remove the probe; get: read back.
REQUIRED_PERMISSIONS = ("storage.objects.create", "storage.objects.delete")
REPORTED_PERMISSIONS = (*REQUIRED_PERMISSIONS, "storage.objects.get")
PROBE_DIR = "_connection_test"
PROBE_BODY = b"Connection test from the Destinations service; safe to delete.\n"


@register
class GcsConnector(GoogleServiceAccountConnector):
    type = "gcs"
    label = "Google Cloud Storage"
    example_config = {
        "service_account_json": EXAMPLE_SERVICE_ACCOUNT_JSON,
        "bucket": "my-company-exports",
        "prefix": "exports/crm",
        "file_format": "jsonl",
    }
    auth_method = "Service-account JSON key (OAuth 2.0 JWT-bearer exchange via google-auth)"
    api_base = "https://storage.googleapis.com"
    default_base_url = api_base
    vendor = "Cloud Storage"
    scopes = (SCOPE,)
    remediations = {
        ErrorCode.NOT_FOUND: "Check the bucket name; the bucket does not exist.",
        ErrorCode.INSUFFICIENT_PERMISSIONS: "Grant the service account roles/storage.objectAdmin (or objectCreator "
        "plus objectViewer and delete) on the bucket.",
    }
    config_schema = config_schema(
        "Google Cloud Storage",
        "Writes sync output as files into a bucket. Authenticates with a service-account JSON key: google-auth "
        "signs a JWT with the key and exchanges it for an access token (scope devstorage.read_write). The "
        "service account needs roles/storage.objectAdmin on the bucket (create, and delete to overwrite). "
        "Alternatives (not offered here): HMAC keys on the S3-compatible XML API, workload identity federation.",
        {
            SERVICE_ACCOUNT_FIELD: service_account_property(),
            "bucket": string(
                "The bucket name (without gs://).",
                pattern=r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$",
                **{"x-pattern-message": "Must be a bucket name: lowercase letters, digits, dots, dashes, underscores."},
            ),
            "prefix": {
                "type": "string",
                "maxLength": 900,
                "pattern": r"^[^\r\n#\[\]*?]*$",
                "x-pattern-message": "A prefix may not contain line breaks or the characters # [ ] * ?.",
                "description": "Folder-like prefix under which files are written, e.g. exports/crm (optional).",
            },
            **file_format_properties(),
        },
        [SERVICE_ACCOUNT_FIELD, "bucket", "file_format"],
    )
    steps = (
        *google_common_steps("storage.googleapis.com", "devstorage.read_write"),
        Step(
            "bucket_permissions",
            "buckets.testIamPermissions: the bucket exists and the service account holds storage.objects.create "
            "and storage.objects.delete on it. Reads permissions only; nothing is written.",
            15,
        ),
        Step(
            "write_probe",
            f"Uploads a tiny text object under <prefix>/{PROBE_DIR}/ and deletes it again: proves a file can "
            "really be written (bucket policies, retention locks, encryption keys).",
            20,
            writes=True,
        ),
    )

    @property
    def bucket(self) -> str:
        return self.config["bucket"]

    @property
    def prefix(self) -> str:
        return (self.config.get("prefix") or "").strip("/")

    def bucket_path(self) -> str:
        return f"/storage/v1/b/{quote(self.bucket, safe='')}"

    def check_bucket_permissions(self):
        params = [("permissions", p) for p in REPORTED_PERMISSIONS]
        answer = self.call("GET", f"{self.bucket_path()}/iam/testPermissions", params=params).json()
        held = set(answer.get("permissions") or [])
        missing = [p for p in REQUIRED_PERMISSIONS if p not in held]
        if missing:
            raise ConnectorError(
                ErrorCode.INSUFFICIENT_PERMISSIONS,
                f"The service account lacks {', '.join(missing)} on gs://{self.bucket}.",
                remediation=self.remediations[ErrorCode.INSUFFICIENT_PERMISSIONS],
                details={"missing": missing, "held": sorted(held)},
            )
        return (
            f"gs://{self.bucket} exists and the service account holds {', '.join(REQUIRED_PERMISSIONS)}.",
            {"permissions": sorted(held)},
        )

    def check_write_probe(self):
        name = "/".join(part for part in (self.prefix, PROBE_DIR, f"{uuid.uuid4()}.txt") if part)
        uploaded = self.call(
            "POST",
            f"/upload{self.bucket_path()}/o",
            params={"uploadType": "media", "name": name},
            data=PROBE_BODY,
            headers={"Content-Type": "text/plain"},
        ).json()
        try:
            self.call("DELETE", f"{self.bucket_path()}/o/{quote(name, safe='')}")
        except ConnectorError as error:
            error.message = (
                f"The probe object gs://{self.bucket}/{name} was written but could not be deleted ({error.message}). "
                "Delete it by hand."
            )
            error.details = {"object": name, "written": True, "deleted": False}
            raise
        return (
            f"Wrote and deleted gs://{self.bucket}/{name} ({len(PROBE_BODY)} bytes).",
            {"object": name, "generation": uploaded.get("generation"), "deleted": True},
        )

    def describe_fields(self) -> FieldsDescription:
        return file_fields(self.config, location=f"gs://{self.bucket}/{self.prefix + '/' if self.prefix else ''}")
