"""A Cloud Storage JSON API double: bucket testIamPermissions, media upload and object delete, with Bearer checks.

A bucket may carry a retention policy (Bucket.retentionPolicy): deleting an object younger than its period is
refused with 403 PERMISSION_DENIED, as Google documents.

The OAuth token endpoint (the key file's token_uri) and the Bearer/scope checks come from `GoogleEmulator`.
"""

from __future__ import annotations

import json
import time

from werkzeug.routing import Rule
from werkzeug.wrappers import Response

from .bigquery import GoogleEmulator, service_account_info

STORAGE_SCOPE = "https://www.googleapis.com/auth/devstorage.read_write"
ALL_PERMISSIONS = {"storage.objects.create", "storage.objects.delete", "storage.objects.get", "storage.objects.list"}


class GcsEmulator(GoogleEmulator):
    rules = (
        *GoogleEmulator.rules,
        Rule("/storage/v1/b/<bucket>/iam/testPermissions", endpoint="test_permissions", methods=["GET"]),
        Rule("/upload/storage/v1/b/<bucket>/o", endpoint="upload", methods=["POST"]),
        Rule("/storage/v1/b/<bucket>/o/<path:name>", endpoint="object", methods=["GET", "DELETE"]),
    )
    scope = STORAGE_SCOPE

    def reset_state(self) -> None:
        super().reset_state()
        self.buckets: dict[str, dict[str, bytes]] = {"acme-exports": {}}
        self.granted = set(ALL_PERMISSIONS)
        self.uploaded: list[str] = []
        self.deleted: list[str] = []
        self.retention_seconds = 0  # the bucket's retentionPolicy.retentionPeriod; 0: none
        self.created: dict[str, float] = {}

    def missing_bucket(self):
        return self.google_error(404, "The specified bucket does not exist.", "notFound", "NOT_FOUND")

    def forbidden(self, email: str, permission: str, bucket: str, name: str = ""):
        what = f"object {bucket}/{name}" if name else f"bucket {bucket}"
        message = (
            f"{email} does not have {permission} access to the Google Cloud Storage {what}. Permission "
            f"'{permission}' denied on resource (or it may not exist)."
        )
        return self.google_error(403, message, "forbidden", "PERMISSION_DENIED")

    def on_test_permissions(self, request, bucket):
        _, failure = self.authorize(request)
        if failure is not None:
            return failure
        if bucket not in self.buckets:
            return self.missing_bucket()
        asked = request.args.getlist("permissions")
        if not asked:
            return self.google_error(400, "Required parameter: permissions", "required", "INVALID_ARGUMENT")
        held = [p for p in asked if p in self.granted]
        body = {"kind": "storage#testIamPermissionsResponse"}
        if held:
            body["permissions"] = held
        return self.json(body)

    def on_upload(self, request, bucket):
        email, failure = self.authorize(request)
        if failure is not None:
            return failure
        if bucket not in self.buckets:
            return self.missing_bucket()
        name = request.args.get("name", "")
        if request.args.get("uploadType") != "media" or not name:
            return self.google_error(
                400, "Upload requests must include an uploadType and a name.", "invalid", "INVALID_ARGUMENT"
            )
        if "storage.objects.create" not in self.granted:
            return self.forbidden(email, "storage.objects.create", bucket, name)
        data = request.get_data()
        self.buckets[bucket][name] = data
        self.uploaded.append(name)
        self.created[name] = time.time()
        generation = str(int(time.time() * 1_000_000))
        return self.json(
            {
                "kind": "storage#object",
                "id": f"{bucket}/{name}/{generation}",
                "name": name,
                "bucket": bucket,
                "generation": generation,
                "size": str(len(data)),
                "contentType": request.content_type or "application/octet-stream",
            }
        )

    def on_object(self, request, bucket, name):
        email, failure = self.authorize(request)
        if failure is not None:
            return failure
        if bucket not in self.buckets:
            return self.missing_bucket()
        needed = "storage.objects.delete" if request.method == "DELETE" else "storage.objects.get"
        if needed not in self.granted:
            return self.forbidden(email, needed, bucket, name)
        if name not in self.buckets[bucket]:
            return self.google_error(404, f"No such object: {bucket}/{name}", "notFound", "NOT_FOUND")
        if request.method == "DELETE" and time.time() - self.created.get(name, 0) < self.retention_seconds:
            message = (
                f"Object '{bucket}/{name}' is subject to bucket's retention policy or object retention and cannot be "
                "deleted or overwritten until it is older than the retention period."
            )
            return self.google_error(403, message, "retentionPolicyNotMet", "PERMISSION_DENIED")
        if request.method == "DELETE":
            del self.buckets[bucket][name]
            self.deleted.append(name)
            return Response(status=204)
        return self.json({"kind": "storage#object", "name": name, "bucket": bucket})


def valid_config(emulator: GcsEmulator) -> dict:
    """A config passing every step: a fresh service-account key registered with the emulator."""
    return {
        "service_account_json": json.dumps(service_account_info(emulator)),
        "bucket": "acme-exports",
        "prefix": "crm/daily",
        "file_format": "csv",
        "compression": "gzip",
    }


EMULATOR = GcsEmulator
