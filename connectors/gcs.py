"""Google Cloud Storage as a destination: sync output lands as files under a bucket prefix.

The test proves the one privilege a sync needs (storage.objects.create) with buckets.testIamPermissions and
writes nothing. An uploaded probe object is no proof worth its side effect: in a bucket with a retention policy
it cannot be deleted until the policy allows, so every scheduled test would leave one more behind.
"""

from __future__ import annotations

from urllib.parse import quote

from ._files import file_fields, file_format_properties
from ._google import (
    EXAMPLE_SERVICE_ACCOUNT_JSON,
    SERVICE_ACCOUNT_FIELD,
    GoogleServiceAccountConnector,
    google_common_steps,
    service_account_property,
)
from .runtime.base import FieldsDescription, Requirement, Step
from .runtime.errors import ConnectorError, ErrorCode
from .runtime.registry import register
from .runtime.schema import config_schema, string

SCOPE = "https://www.googleapis.com/auth/devstorage.read_write"
# A sync only adds uniquely named files ({sync_id}/{run_id}/part-…), and objects.insert of a new name needs
# storage.objects.create alone; storage.objects.delete is needed only to overwrite an existing name.
INSERT_DOC = "https://cloud.google.com/storage/docs/json_api/v1/objects/insert"
TEST_PERMISSIONS_DOC = "https://cloud.google.com/storage/docs/json_api/v1/buckets/testIamPermissions"
CREATE = "storage.objects.create"
# Reported, never required: overwriting an object (a sync never does) and reading one back.
OPTIONAL_PERMISSIONS = ("storage.objects.delete", "storage.objects.get")
GRANT_CREATE = (
    "Grant the service account roles/storage.objectCreator (which holds storage.objects.create) on the bucket: "
    "Cloud Storage → Buckets → {bucket} → Permissions → Grant access."
)


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
        ErrorCode.INSUFFICIENT_PERMISSIONS: GRANT_CREATE.format(bucket="<bucket>"),
    }
    config_schema = config_schema(
        "Google Cloud Storage",
        "Writes sync output as files into a bucket. Authenticates with a service-account JSON key: google-auth "
        "signs a JWT with the key and exchanges it for an access token (scope devstorage.read_write). The "
        "service account needs roles/storage.objectCreator on the bucket (storage.objects.create: syncs only add "
        "uniquely named files). Alternatives (not offered here): HMAC keys on the S3-compatible XML API, workload "
        "identity federation.",
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
            f"buckets.testIamPermissions: the bucket exists and the service account holds {CREATE} on it, all a "
            "sync needs (it only adds uniquely named files). Reads permissions only; nothing is written to the "
            "bucket, so retention policies and create-only accounts pass.",
            15,
            proves=(
                Requirement(
                    CREATE,
                    INSERT_DOC,
                    proof=f"buckets.testIamPermissions ({TEST_PERMISSIONS_DOC}) lists it among the held permissions",
                ),
            ),
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
        params = [("permissions", p) for p in (CREATE, *OPTIONAL_PERMISSIONS)]
        answer = self.call("GET", f"{self.bucket_path()}/iam/testPermissions", params=params).json()
        held = sorted(answer.get("permissions") or [])
        if CREATE not in held:
            raise ConnectorError(
                ErrorCode.INSUFFICIENT_PERMISSIONS,
                f"The service account lacks {CREATE} on gs://{self.bucket}; syncs could not write their files.",
                remediation=GRANT_CREATE.format(bucket=self.bucket),
                details={"missing": [CREATE], "held": held},
            )
        details = {"permissions": held}
        if "storage.objects.delete" not in held:
            details["warnings"] = [
                "storage.objects.delete is not held: fine for syncs, which only add uniquely named files; it would "
                "be needed only to overwrite an existing object."
            ]
        return f"gs://{self.bucket} exists and the service account holds {CREATE}.", details

    def describe_fields(self) -> FieldsDescription:
        return file_fields(self.config, location=f"gs://{self.bucket}/{self.prefix + '/' if self.prefix else ''}")
