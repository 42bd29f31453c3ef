"""Google BigQuery as a destination: rows land in one table, authenticated with a service-account key."""

from __future__ import annotations

from urllib.parse import quote

from ._google import (
    EXAMPLE_SERVICE_ACCOUNT_JSON,
    SERVICE_ACCOUNT_FIELD,
    GoogleServiceAccountConnector,
    google_common_steps,
    service_account_property,
)
from ._warehouse import WarehouseColumn, warehouse_fields
from .runtime.base import FieldsDescription, Requirement, Step
from .runtime.errors import ConnectorError, ErrorCode
from .runtime.registry import register
from .runtime.schema import config_schema, string

SCOPE = "https://www.googleapis.com/auth/bigquery"
WRITE_PERMISSIONS = ("bigquery.tables.get", "bigquery.tables.getData", "bigquery.tables.updateData")
# A sync writes rows with DML (INSERT, and MERGE on the merge keys the fields offer): updateData to change the
# table, getData for MERGE to read it, and jobs.create on the project, as every query runs as a job.
DML_DOC = "https://cloud.google.com/bigquery/docs/data-manipulation-language"
JOBS_DOC = "https://cloud.google.com/bigquery/docs/jobs-overview"
TEST_PERMISSIONS_DOC = "https://cloud.google.com/bigquery/docs/reference/rest/v2/tables/testIamPermissions"
WRITABLE_TABLE_TYPES = {"TABLE"}
# Column types that cannot be a merge key (nested, semi-structured, or floating point).
NON_KEY_TYPES = {"RECORD", "STRUCT", "JSON", "GEOGRAPHY", "RANGE", "FLOAT", "FLOAT64"}


@register
class BigQueryConnector(GoogleServiceAccountConnector):
    type = "bigquery"
    label = "BigQuery (as destination)"
    example_config = {
        "service_account_json": EXAMPLE_SERVICE_ACCOUNT_JSON,
        "project_id": "my-project-123",
        "dataset": "marketing",
        "table": "contacts",
        "location": "US",
    }
    auth_method = "Service-account JSON key (OAuth 2.0 JWT-bearer exchange via google-auth)"
    api_base = "https://bigquery.googleapis.com"
    default_base_url = api_base
    vendor = "BigQuery"
    scopes = (SCOPE,)
    remediations = {
        ErrorCode.NOT_FOUND: "Check the project, dataset and table names, and that the table is in this project.",
        ErrorCode.INSUFFICIENT_PERMISSIONS: "Grant the service account roles/bigquery.dataEditor on the dataset "
        "(or table) and roles/bigquery.jobUser on the project.",
    }
    config_schema = config_schema(
        "BigQuery",
        "Writes rows into one BigQuery table. Authenticates with a service-account JSON key: google-auth signs "
        "a JWT with the key and exchanges it for an access token (scope bigquery). The service account needs "
        "roles/bigquery.dataEditor on the dataset and roles/bigquery.jobUser on the project. Alternatives (not "
        "offered here): workload identity federation, a user's OAuth refresh token.",
        {
            SERVICE_ACCOUNT_FIELD: service_account_property(),
            "project_id": string(
                "The Google Cloud project that holds the dataset and runs (and is billed for) the load jobs.",
                pattern=r"^([a-z][a-z0-9.-]*:)?[a-z][a-z0-9-]{4,61}[a-z0-9]$",
                **{"x-pattern-message": "Must be a Google Cloud project ID, e.g. my-project-123."},
            ),
            "dataset": string(
                "The dataset (schema) that holds the table.",
                pattern=r"^[A-Za-z0-9_]{1,1024}$",
                **{"x-pattern-message": "Dataset names use letters, digits and underscores only."},
            ),
            "table": string(
                "The table rows are written to.",
                pattern=r"^[^`./\\]{1,1024}$",
                **{"x-pattern-message": "Table names may not contain backticks, dots or slashes."},
            ),
            "location": string("The dataset's location, e.g. US, EU or europe-west3 (checked against the table)."),
        },
        [SERVICE_ACCOUNT_FIELD, "project_id", "dataset", "table"],
    )
    steps = (
        *google_common_steps("bigquery.googleapis.com", "bigquery"),
        Step(
            "target",
            "tables.get: the table exists, the service account can read its metadata, it is a plain table (not a "
            "view) and it is in the configured location.",
            15,
        ),
        Step(
            "permission",
            "tables.testIamPermissions: the service account holds bigquery.tables.get, getData and updateData "
            "on the table, what a sync's INSERT and MERGE need. Reads permissions only; nothing is written.",
            15,
            proves=tuple(
                Requirement(
                    permission,
                    DML_DOC,
                    proof=f"tables.testIamPermissions ({TEST_PERMISSIONS_DOC}) lists it among the held permissions",
                )
                for permission in ("bigquery.tables.updateData", "bigquery.tables.getData")
            ),
        ),
        Step(
            "dry_run",
            "A dry-run DML query (INSERT … SELECT … WHERE FALSE) is accepted: proves bigquery.jobs.create on the "
            "project (a sync's DML runs as query jobs) and that the statement compiles against the table in its "
            "location. A dry run checks no data access, so write access is proven by the permission step. Dry runs "
            "execute nothing and are not billed.",
            20,
            proves=(
                Requirement(
                    "bigquery.jobs.create on the project",
                    JOBS_DOC,
                    proof="jobs.query with dryRun accepts the statement (it needs jobs.create and runs nothing)",
                ),
            ),
        ),
    )

    @property
    def table_id(self) -> str:
        return f"{self.config['project_id']}.{self.config['dataset']}.{self.config['table']}"

    @property
    def table_path(self) -> str:
        project, dataset, table = (quote(self.config[k], safe="") for k in ("project_id", "dataset", "table"))
        return f"/bigquery/v2/projects/{project}/datasets/{dataset}/tables/{table}"

    def get_table(self) -> dict:
        return self.call("GET", self.table_path).json()

    def check_target(self):
        table = self.get_table()
        table_type = table.get("type", "TABLE")
        if table_type not in WRITABLE_TABLE_TYPES:
            raise ConnectorError(
                ErrorCode.INVALID_CONFIG,
                f"{self.table_id} is a {table_type}, which cannot be written to.",
                remediation="Choose a plain table in `table`.",
            )
        location = table.get("location", "")
        wanted = self.config.get("location")
        if wanted and location and wanted.lower() != location.lower():
            raise ConnectorError(
                ErrorCode.INVALID_CONFIG,
                f"{self.table_id} is in location {location}, not {wanted}.",
                remediation=f"Set `location` to {location} (or leave it empty).",
            )
        columns = table.get("schema", {}).get("fields", [])
        details = {"table": self.table_id, "type": table_type, "location": location, "columns": len(columns)}
        return f"Found table {self.table_id} ({len(columns)} columns, location {location or 'unknown'}).", details

    def check_permission(self):
        response = self.call("POST", f"{self.table_path}:testIamPermissions", json={"permissions": WRITE_PERMISSIONS})
        held = set(response.json().get("permissions") or [])
        missing = [p for p in WRITE_PERMISSIONS if p not in held]
        if missing:
            raise ConnectorError(
                ErrorCode.INSUFFICIENT_PERMISSIONS,
                f"The service account lacks {', '.join(missing)} on {self.table_id}.",
                remediation="Grant the service account roles/bigquery.dataEditor on the dataset or the table.",
                details={"missing": missing, "held": sorted(held)},
            )
        return f"The service account holds {', '.join(WRITE_PERMISSIONS)}.", {"permissions": sorted(held)}

    def check_dry_run(self):
        body = {
            # The names are schema-validated (no backticks), so quoting them with backticks is safe.
            "query": f"INSERT INTO `{self.table_id}` SELECT * FROM `{self.table_id}` WHERE FALSE",  # noqa: S608
            "useLegacySql": False,
            "dryRun": True,
        }
        if self.config.get("location"):
            body["location"] = self.config["location"]
        project = quote(self.config["project_id"], safe="")
        answer = self.call("POST", f"/bigquery/v2/projects/{project}/queries", json=body).json()
        processed = answer.get("totalBytesProcessed", "0")
        return (
            f"BigQuery validated a dry-run INSERT into {self.table_id} (nothing ran; {processed} bytes would be read).",
            {"total_bytes_processed": processed, "dry_run": True},
        )

    def describe_fields(self) -> FieldsDescription:
        table = self.get_table()
        primary_key = (table.get("tableConstraints") or {}).get("primaryKey", {}).get("columns", [])
        columns = []
        for column in table.get("schema", {}).get("fields", []):
            mode = column.get("mode", "NULLABLE")
            base_type = column.get("type", "STRING")
            columns.append(
                WarehouseColumn(
                    name=column["name"],
                    type=f"ARRAY<{base_type}>" if mode == "REPEATED" else base_type,
                    scalar=mode != "REPEATED" and base_type not in NON_KEY_TYPES,
                    nullable=mode != "REQUIRED",
                    has_default=bool(column.get("defaultValueExpression")),
                    primary_key=column["name"] in primary_key,
                    description=column.get("description", ""),
                )
            )
        fields, options = warehouse_fields(columns)
        return FieldsDescription(
            object=self.table_id,
            source="live",
            fields=fields,
            options={**options, "location": table.get("location", "")},
        )
