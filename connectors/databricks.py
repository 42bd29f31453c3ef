"""Databricks (Unity Catalog table) as a destination: workspace REST APIs with a personal access token."""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

import requests

from ._polling import poll, remaining, step_deadline
from .base import Connector, DestinationField, FieldsDescription, Step
from .errors import ConnectorError, ErrorCode
from .http import error_for_status
from .registry import register
from .schema import config_schema, https_url, secret, string

MAX_VENDOR_MESSAGE = 300
WRITE_PRIVILEGES = ("MODIFY", "SELECT")
RUNNING_STATES = {"PENDING", "RUNNING"}
WRITABLE_TABLE_TYPES = {"MANAGED", "EXTERNAL"}
NON_KEY_TYPES = {
    "ARRAY",
    "MAP",
    "STRUCT",
    "VARIANT",
    "GEOGRAPHY",
    "GEOMETRY",
    "FLOAT",
    "DOUBLE",
    "NULL",
    "USER_DEFINED_TYPE",
    "TABLE_TYPE",
    "INTERVAL",
}
UC_NAME = {
    "type": "string",
    "minLength": 1,
    "maxLength": 255,
    "pattern": r"^[^.\s/`]+$",
    "x-pattern-message": "Unity Catalog names may not contain dots, spaces, slashes or backticks.",
}

NOT_FOUND_HINTS = {
    "CATALOG_DOES_NOT_EXIST": "The catalog does not exist: check `catalog`.",
    "SCHEMA_DOES_NOT_EXIST": "The schema does not exist in this catalog: check `schema`.",
    "TABLE_DOES_NOT_EXIST": "The table does not exist: check `table` (or create it first).",
}
TOKEN_REMEDIATION = "The token is invalid, expired or revoked: create a new personal access token and paste it."


def databricks_error(response: requests.Response, *, remediations: dict[ErrorCode, str] | None = None):
    """Map a Databricks REST error ({"error_code": "...", "message": "..."}) to a ConnectorError."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    vendor_code = str(body.get("error_code") or "") or None
    message = re.sub(r"\s+", " ", str(body.get("message") or ""))[:MAX_VENDOR_MESSAGE]
    code, remediation = None, ""
    if response.status_code in (401, 403) and "access token" in message.lower():
        code, remediation = ErrorCode.AUTH_INVALID, TOKEN_REMEDIATION  # Databricks answers 403 for a bad PAT
    elif vendor_code in NOT_FOUND_HINTS:
        code, remediation = ErrorCode.NOT_FOUND, NOT_FOUND_HINTS[vendor_code]
    elif vendor_code == "REQUEST_LIMIT_EXCEEDED":
        code = ErrorCode.RATE_LIMITED
    final = code or error_for_status(response, "Databricks").code
    remediation = remediation or (remediations or {}).get(final, "")
    return error_for_status(
        response, "Databricks", vendor_message=message, vendor_code=vendor_code, code=code, remediation=remediation
    )


@register
class DatabricksConnector(Connector):
    type = "databricks"
    label = "Databricks (as destination)"
    auth_method = "Personal access token (Bearer) on the workspace REST APIs"
    config_schema = config_schema(
        "Databricks",
        "Writes rows into one Unity Catalog table through a SQL warehouse. Authenticates with a personal access "
        "token (Authorization: Bearer), ideally of a service principal. Alternative (not offered here): OAuth "
        "machine-to-machine with a service principal's client id and secret.",
        {
            "host": https_url(
                "The workspace URL, e.g. https://adb-1234567890123456.7.azuredatabricks.net.",
                pattern=r"^https://[^\s/?#]+",
                **{
                    "x-pattern-message": "Must be the https:// URL of the workspace (the token is sent to it).",
                    "x-credential-host": True,
                },
            ),
            "token": secret("A personal access token (dapi…) of the user or service principal that writes."),
            "warehouse_id": string(
                "ID of the SQL warehouse that runs the writes (SQL Warehouses → Connection details).",
                pattern=r"^[A-Za-z0-9-]{1,64}$",
                **{"x-pattern-message": "Must be a SQL warehouse ID, e.g. 1234567890abcdef."},
            ),
            "catalog": {**UC_NAME, "description": "Unity Catalog catalog of the target table."},
            "schema": {**UC_NAME, "description": "Schema of the target table."},
            "table": {**UC_NAME, "description": "The table rows are written to."},
        },
        ["host", "token", "warehouse_id", "catalog", "schema", "table"],
    )
    steps = (
        Step(
            "connectivity",
            "DNS resolves, TCP connects and TLS is valid for the workspace host; any HTTP answer proves it is "
            "reachable.",
            10,
        ),
        Step("authentication", "SCIM /Me accepts the token and names its user or service principal.", 15),
        Step(
            "target",
            "Unity Catalog tables API: the table exists, the principal can see it and it is a table, not a view "
            "(metadata only; no compute is started).",
            15,
        ),
        Step(
            "permission",
            "Unity Catalog effective permissions show MODIFY and SELECT on the table for the principal, directly, "
            "inherited from the catalog or schema, or through its groups (no compute is started).",
            15,
        ),
        Step(
            "warehouse_write_check",
            "Runs INSERT INTO <table> SELECT * FROM <table> WHERE 1 = 0 (writes no rows) on the SQL warehouse: "
            "the principal may use the warehouse and write the table. Starts the SQL warehouse if it is stopped "
            "(a paid compute resource).",
            60,
        ),
    )

    me: dict | None = None
    table_info: dict | None = None

    @property
    def base_url(self) -> str:
        """scheme://host of the workspace URL (a pasted ?o=<workspace id> or path is dropped)."""
        parts = urlsplit(self.config["host"])
        return self.vendor_url(f"{parts.scheme}://{parts.netloc}")

    @property
    def full_name(self) -> str:
        return ".".join(self.config[k] for k in ("catalog", "schema", "table"))

    @property
    def sql_name(self) -> str:
        return ".".join(f"`{self.config[k]}`" for k in ("catalog", "schema", "table"))

    def call(self, method: str, path: str, *, remediations: dict | None = None, **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.config['token']}", "Accept": "application/json"}
        response = self.http.request(method, self.base_url + path, headers=headers, allow_redirects=False, **kwargs)
        if not 200 <= response.status_code < 300:
            raise databricks_error(response, remediations=remediations)
        return response

    # --- steps --------------------------------------------------------------------------------

    def check_connectivity(self):
        return self.reach(self.base_url + "/")

    def whoami(self) -> dict:
        if self.me is None:
            self.me = self.call("GET", "/api/2.0/preview/scim/v2/Me").json()
        return self.me

    def check_authentication(self):
        me = self.whoami()
        name = me.get("userName") or me.get("displayName") or me.get("id")
        return f"The token belongs to {name}.", {"principal": name}

    def get_table(self) -> dict:
        if self.table_info is None:
            self.table_info = self.call(
                "GET",
                f"/api/2.1/unity-catalog/tables/{quote(self.full_name, safe='.')}",
                remediations={
                    ErrorCode.INSUFFICIENT_PERMISSIONS: "Grant the principal USE CATALOG, USE SCHEMA and SELECT "
                    "on the table (or make it the owner).",
                },
            ).json()
        return self.table_info

    def check_target(self):
        table = self.get_table()
        table_type = table.get("table_type", "MANAGED")
        if table_type not in WRITABLE_TABLE_TYPES:
            raise ConnectorError(
                ErrorCode.INVALID_CONFIG,
                f"{self.full_name} is a {table_type}, which cannot be written to.",
                remediation="Choose a managed or external table in `table`.",
            )
        columns = table.get("columns") or []
        details = {
            "table": self.full_name,
            "table_type": table_type,
            "columns": len(columns),
            "data_source_format": table.get("data_source_format"),
        }
        return f"Found {table_type.lower()} table {self.full_name} ({len(columns)} columns).", details

    def principals(self) -> set[str]:
        """The principal and the groups it belongs to, as Unity Catalog names them in grants."""
        me = self.whoami()
        names = {me.get("userName"), me.get("applicationId"), me.get("displayName"), "account users", "users"}
        names.update(group.get("display") for group in me.get("groups") or [])
        return {name for name in names if name}

    def check_permission(self):
        principals = self.principals()
        table = self.get_table()
        if table.get("owner") in principals:
            return f"The principal owns {self.full_name} (all privileges).", {"owner": True}
        answer = self.call(
            "GET",
            f"/api/2.1/unity-catalog/effective-permissions/table/{quote(self.full_name, safe='.')}",
            remediations={
                ErrorCode.INSUFFICIENT_PERMISSIONS: "The principal may not read the table's grants; grant it "
                "MANAGE or BROWSE on the table, or SELECT on it.",
            },
        ).json()
        held = {
            privilege.get("privilege")
            for assignment in answer.get("privilege_assignments") or []
            if assignment.get("principal") in principals
            for privilege in assignment.get("privileges") or []
        }
        if "ALL_PRIVILEGES" in held:
            held.update(WRITE_PRIVILEGES)
        missing = [p for p in WRITE_PRIVILEGES if p not in held]
        if missing:
            raise ConnectorError(
                ErrorCode.INSUFFICIENT_PERMISSIONS,
                f"The principal lacks {', '.join(missing)} on {self.full_name}.",
                remediation=f"GRANT {', '.join(missing)} ON TABLE {self.full_name} TO the principal or one of its "
                "groups.",
                details={"missing": missing, "held": sorted(p for p in held if p)},
            )
        return (
            f"The principal holds {', '.join(WRITE_PRIVILEGES)} on {self.full_name}.",
            {"privileges": sorted(p for p in held if p)},
        )

    def check_warehouse_write_check(self):
        deadline = step_deadline(self.http)
        wait = int(min(remaining(deadline) - 3, 50))
        body = {
            "warehouse_id": self.config["warehouse_id"],
            # The names are schema-validated (no backticks), so quoting them with backticks is safe.
            "statement": f"INSERT INTO {self.sql_name} SELECT * FROM {self.sql_name} WHERE 1 = 0",  # noqa: S608
            "wait_timeout": f"{wait}s" if wait >= 5 else "0s",
            "on_wait_timeout": "CONTINUE",
            "disposition": "INLINE",
            "format": "JSON_ARRAY",
        }
        remediations = {
            ErrorCode.NOT_FOUND: "Check `warehouse_id`: no SQL warehouse with this ID exists in the workspace.",
            ErrorCode.INSUFFICIENT_PERMISSIONS: "Grant the principal CAN USE on the SQL warehouse.",
        }
        answer = self.call("POST", "/api/2.0/sql/statements", json=body, remediations=remediations).json()
        statement_id = quote(str(answer.get("statement_id", "")), safe="")
        if answer.get("status", {}).get("state") in RUNNING_STATES:
            status_path = f"/api/2.0/sql/statements/{statement_id}"
            answer = poll(
                self.http,
                lambda: self._finished(self.call("GET", status_path).json()),
                deadline=deadline,
                what="The no-op INSERT",
                remediation="The SQL warehouse may still be starting; test again in a few minutes.",
                cancel=lambda: self.call("POST", f"{status_path}/cancel"),
            )
        self._raise_for_state(answer)
        return (
            f"Warehouse {self.config['warehouse_id']} ran a no-op INSERT into {self.full_name} (no rows written).",
            {"statement_id": answer.get("statement_id"), "state": "SUCCEEDED"},
        )

    @staticmethod
    def _finished(answer: dict) -> dict | None:
        return None if answer.get("status", {}).get("state") in RUNNING_STATES else answer

    def _raise_for_state(self, answer: dict) -> None:
        status = answer.get("status") or {}
        state = status.get("state")
        if state in ("SUCCEEDED", "CLOSED"):
            return
        error = status.get("error") or {}
        message = re.sub(r"\s+", " ", str(error.get("message") or ""))[:MAX_VENDOR_MESSAGE]
        sql_state = status.get("sql_state") or ""
        text = f"{message} {sql_state}".upper()
        if "42501" in text or "INSUFFICIENT_PERMISSIONS" in text or "PERMISSION_DENIED" in text:
            code, remediation = ErrorCode.INSUFFICIENT_PERMISSIONS, f"GRANT MODIFY, SELECT ON TABLE {self.full_name}."
        elif "42P01" in text or "TABLE_OR_VIEW_NOT_FOUND" in text:
            code, remediation = ErrorCode.NOT_FOUND, NOT_FOUND_HINTS["TABLE_DOES_NOT_EXIST"]
        else:
            code, remediation = ErrorCode.VENDOR_ERROR, ""
        raise ConnectorError(
            code,
            f"The no-op INSERT ended {state}: {message or 'no reason given'}",
            remediation=remediation,
            vendor_code=str(error.get("error_code") or "") or None,
        )

    def describe_fields(self) -> FieldsDescription:
        table = self.get_table()
        primary_key: list[str] = []
        for constraint in table.get("table_constraints") or []:
            primary_key = (constraint.get("primary_key_constraint") or {}).get("child_columns") or primary_key
        fields = []
        for column in sorted(table.get("columns") or [], key=lambda c: c.get("position", 0)):
            nullable = column.get("nullable", True)
            type_name = str(column.get("type_name") or "").upper()
            scalar = type_name not in NON_KEY_TYPES
            fields.append(
                DestinationField(
                    name=column["name"],
                    label=column["name"],
                    type=column.get("type_text") or type_name.lower(),
                    required=not nullable,
                    identifier=column["name"] in primary_key if primary_key else (scalar and not nullable),
                    nullable=nullable,
                    description=column.get("comment") or "",
                )
            )
        return FieldsDescription(
            object=self.full_name,
            source="live",
            fields=fields,
            options={
                "primary_key": primary_key,
                "key_source": "primary_key" if primary_key else "not_null_scalar_columns",
                "table_type": table.get("table_type"),
                "data_source_format": table.get("data_source_format"),
            },
        )
