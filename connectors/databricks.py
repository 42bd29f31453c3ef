"""Databricks (Unity Catalog table) as a destination: workspace REST APIs with a personal access token."""

from __future__ import annotations

import json
from dataclasses import replace
from urllib.parse import quote, urlsplit

import requests

from ._polling import poll, remaining, step_deadline
from ._warehouse import WarehouseColumn, warehouse_fields
from .runtime.base import Connector, FieldsDescription, Requirement, Step
from .runtime.errors import ConnectorError, ErrorCode
from .runtime.registry import register
from .runtime.schema import config_schema, https_url, secret, string
from .runtime.vendor import ErrorTable, Rule, read_json

WRITE_PRIVILEGES = ("MODIFY", "SELECT")
# MODIFY to add and update rows, SELECT to read the rows a merge matches.
PRIVILEGES_DOC = "https://docs.databricks.com/aws/en/data-governance/unity-catalog/access-control/privileges-reference"
RUNNING_STATES = {"PENDING", "RUNNING"}
# SQL warehouse states (EndpointState): only RUNNING runs a statement at once; the write check starts the rest.
WAREHOUSE_GONE = {"DELETED", "DELETING"}
MAX_PERMISSION_PAGES = 50
MAX_PRINCIPALS = 20
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
WAREHOUSE_REMEDIATIONS = {
    ErrorCode.NOT_FOUND: "Check `warehouse_id`: no SQL warehouse with this ID exists in the workspace.",
    ErrorCode.INSUFFICIENT_PERMISSIONS: "Grant the principal CAN USE on the SQL warehouse.",
}
TOKEN_REMEDIATION = "The token is invalid, expired or revoked: create a new personal access token and paste it."
# Databricks REST errors are {"error_code": "...", "message": "..."}; a bad PAT is a 403 naming the token.
ERRORS = ErrorTable(
    "Databricks",
    rules=(
        Rule(ErrorCode.AUTH_INVALID, TOKEN_REMEDIATION, status=(401, 403), message="access token"),
        *(Rule(ErrorCode.NOT_FOUND, hint, vendor_code=code) for code, hint in NOT_FOUND_HINTS.items()),
        Rule(ErrorCode.RATE_LIMITED, vendor_code="REQUEST_LIMIT_EXCEEDED"),
    ),
)


@register
class DatabricksConnector(Connector):
    type = "databricks"
    label = "Databricks (as destination)"
    example_config = {
        "host": "https://adb-1234567890123456.7.azuredatabricks.net",
        "token": "your-personal-access-token",
        "warehouse_id": "1234567890abcdef",
        "catalog": "main",
        "schema": "marketing",
        "table": "contacts",
    }
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
            proves=(
                Requirement(
                    "MODIFY on the table",
                    PRIVILEGES_DOC,
                    proof="Unity Catalog effective permissions of the principal on the table",
                ),
                Requirement(
                    "SELECT on the table",
                    PRIVILEGES_DOC,
                    proof="Unity Catalog effective permissions of the principal on the table",
                ),
            ),
        ),
        Step(
            "warehouse",
            "SQL Warehouses API: the warehouse exists, the principal can see it, and its state is reported (a "
            "stopped warehouse is named here, before the write check starts it; no compute is started).",
            15,
        ),
        Step(
            "warehouse_write_check",
            "Runs INSERT INTO <table> (<columns>) SELECT <columns> FROM <table> WHERE 1 = 0 (writes no rows; "
            "identity and generated columns left out) on the SQL warehouse: the principal may use the warehouse "
            "and write the table. Starts the SQL warehouse if it is stopped (a paid compute resource).",
            60,
            proves=(
                Requirement(
                    "CAN USE on the SQL warehouse",
                    "https://docs.databricks.com/aws/en/security/auth/access-control/",
                    proof="the no-op INSERT … WHERE 1 = 0 runs on the warehouse",
                ),
            ),
        ),
    )

    me: dict | None = None
    table_info: dict | None = None
    warehouse_state: str | None = None  # as the `warehouse` step read it, before anything could start it

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
            # Per call, what the generic codes mean here (a 404 for a warehouse is not one for a table).
            raise replace(ERRORS, remediations=remediations or {}).error(response)
        return response

    # --- steps --------------------------------------------------------------------------------

    def check_connectivity(self):
        return self.reach(self.base_url + "/")

    def whoami(self) -> dict:
        if self.me is None:
            self.me = read_json(self.call("GET", "/api/2.0/preview/scim/v2/Me"))
        return self.me

    def check_authentication(self):
        me = self.whoami()
        name = me.get("userName") or me.get("displayName") or me.get("id")
        return f"The token belongs to {name}.", {"principal": name}

    def get_table(self) -> dict:
        if self.table_info is None:
            self.table_info = read_json(
                self.call(
                    "GET",
                    f"/api/2.1/unity-catalog/tables/{quote(self.full_name, safe='.')}",
                    remediations={
                        ErrorCode.INSUFFICIENT_PERMISSIONS: "Grant the principal USE CATALOG, USE SCHEMA and SELECT "
                        "on the table (or make it the owner).",
                    },
                )
            )
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

    def effective_privileges(self, principal: str) -> set[str]:
        """The principal's effective privileges on the table, read page by page: `max_results=0` asks for the
        paginated API (unpaginated calls are being retired), and a page may be empty while a `next_page_token`
        still follows, so only a missing token ends the list."""
        path = f"/api/2.1/unity-catalog/effective-permissions/table/{quote(self.full_name, safe='.')}"
        remediations = {
            ErrorCode.INSUFFICIENT_PERMISSIONS: "The principal may not read the table's grants; grant it MANAGE or "
            "BROWSE on the table, or SELECT on it.",
        }
        held: set[str] = set()
        params: dict = {"principal": principal, "max_results": 0}
        for _ in range(MAX_PERMISSION_PAGES):
            answer = read_json(self.call("GET", path, params=params, remediations=remediations))
            for assignment in answer.get("privilege_assignments") or []:
                if assignment.get("principal") == principal:
                    held.update(p.get("privilege") for p in assignment.get("privileges") or [] if p.get("privilege"))
            token = answer.get("next_page_token")
            if not token:
                break
            params = {**params, "page_token": token}
        return held

    def check_permission(self):
        principals = self.principals()
        table = self.get_table()
        if table.get("owner") in principals:
            return f"The principal owns {self.full_name} (all privileges).", {"owner": True}
        me = self.whoami()
        own = [name for name in (me.get("applicationId"), me.get("userName")) if name]
        ordered = list(dict.fromkeys([*own, *sorted(principals - set(own))]))[:MAX_PRINCIPALS]
        held: set[str] = set()
        for principal in ordered:
            held |= self.effective_privileges(principal)
            if "ALL_PRIVILEGES" in held or all(p in held for p in WRITE_PRIVILEGES):
                break
        if "ALL_PRIVILEGES" in held:
            held.update(WRITE_PRIVILEGES)
        missing = [p for p in WRITE_PRIVILEGES if p not in held]
        if missing:
            raise ConnectorError(
                ErrorCode.INSUFFICIENT_PERMISSIONS,
                f"The principal lacks {', '.join(missing)} on {self.full_name}.",
                remediation=f"GRANT {', '.join(missing)} ON TABLE {self.full_name} TO the principal or one of its "
                "groups.",
                details={"missing": missing, "held": sorted(held)},
            )
        return (
            f"The principal holds {', '.join(WRITE_PRIVILEGES)} on {self.full_name}.",
            {"privileges": sorted(held)},
        )

    def read_warehouse(self) -> dict:
        return read_json(
            self.call(
                "GET",
                f"/api/2.0/sql/warehouses/{quote(self.config['warehouse_id'], safe='')}",
                remediations=WAREHOUSE_REMEDIATIONS,
            )
        )

    def check_warehouse(self):
        warehouse = self.read_warehouse()
        state = str(warehouse.get("state") or "UNKNOWN")
        self.warehouse_state = state
        name = warehouse.get("name") or self.config["warehouse_id"]
        details = {
            "warehouse_id": self.config["warehouse_id"],
            "name": name,
            "state": state,
            "cluster_size": warehouse.get("cluster_size"),
            "auto_stop_mins": warehouse.get("auto_stop_mins"),
            "serverless": bool(warehouse.get("enable_serverless_compute")),
        }
        if state in WAREHOUSE_GONE:
            raise ConnectorError(
                ErrorCode.NOT_FOUND,
                f"SQL warehouse {name} is {state}.",
                remediation="Choose a running SQL warehouse in `warehouse_id`.",
                details=details,
            )
        if state == "RUNNING":
            return f"SQL warehouse {name} is running.", details
        stop = warehouse.get("auto_stop_mins")
        until = {None: "", 0: " (auto-stop is off: it runs until someone stops it)"}.get(
            stop, f" until it auto-stops after {stop} idle minutes"
        )
        warning = f"SQL warehouse {name} is {state}: the write check will start it, which uses paid compute{until}."
        return f"Warning: {warning}", {**details, "warnings": [warning]}

    def insert_columns(self) -> list[str]:
        """The columns a write may give values for: GENERATED ALWAYS AS IDENTITY and generated columns are
        filled by Delta itself (supplying one fails the INSERT)."""
        columns = sorted(self.get_table().get("columns") or [], key=lambda c: c.get("position", 0))
        return [c["name"] for c in columns if not generated(c)]

    def check_warehouse_write_check(self):
        deadline = step_deadline(self.http)
        wait = int(min(remaining(deadline) - 3, 50))
        columns = self.insert_columns()
        if not columns:
            raise ConnectorError(
                ErrorCode.INVALID_CONFIG,
                f"{self.full_name} has no column a write can fill (all are identity or generated columns).",
                remediation="Choose a table with at least one ordinary column in `table`.",
            )
        names = ", ".join(backticked(name) for name in columns)
        body = {
            "warehouse_id": self.config["warehouse_id"],
            # Every name is backtick-quoted (backticks doubled), so no name can break out of the statement.
            "statement": f"INSERT INTO {self.sql_name} ({names}) SELECT {names} FROM {self.sql_name} WHERE 1 = 0",  # noqa: S608
            "wait_timeout": f"{wait}s" if wait >= 5 else "0s",
            "on_wait_timeout": "CONTINUE",
            "disposition": "INLINE",
            "format": "JSON_ARRAY",
        }
        answer = read_json(self.call("POST", "/api/2.0/sql/statements", json=body, remediations=WAREHOUSE_REMEDIATIONS))
        statement_id = quote(str(answer.get("statement_id", "")), safe="")
        if answer.get("status", {}).get("state") in RUNNING_STATES:
            status_path = f"/api/2.0/sql/statements/{statement_id}"
            try:
                answer = poll(
                    self.http,
                    lambda: self._finished(read_json(self.call("GET", status_path))),
                    deadline=deadline,
                    what="The no-op INSERT",
                    remediation="The SQL warehouse may still be starting; test again in a few minutes.",
                    cancel=lambda: self.call("POST", f"{status_path}/cancel"),
                )
            except ConnectorError as error:
                raise self._start_outlasted(error) if error.code is ErrorCode.TIMEOUT else error from None
        self._raise_for_state(answer)
        return (
            f"Warehouse {self.config['warehouse_id']} ran a no-op INSERT into {self.full_name} (no rows written).",
            {"statement_id": answer.get("statement_id"), "state": "SUCCEEDED", "columns": len(columns)},
        )

    def _start_outlasted(self, timeout: ConnectorError) -> ConnectorError:
        """A timeout while the warehouse was not running is its start outlasting the step: say so."""
        before = self.warehouse_state
        if before in (None, "RUNNING"):
            return timeout
        self.http.read_timeout = 3.0  # the step's time is up: one short look at the state, no more
        try:
            now = str(self.read_warehouse().get("state") or "UNKNOWN")
        except ConnectorError:
            now = "UNKNOWN"
        return ConnectorError(
            ErrorCode.TIMEOUT,
            f"SQL warehouse {self.config['warehouse_id']} was {before} when the test began and is {now} now: its "
            "start outlasted this step, so the no-op INSERT was cancelled.",
            remediation="The warehouse keeps starting; test again once it is RUNNING (a few minutes for classic and "
            "pro warehouses), or start it first.",
            details={"warehouse_state_before": before, "warehouse_state": now},
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
        message = " ".join(str(error.get("message") or "").split())  # the runtime caps vendor text
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
        fields, options = warehouse_fields(
            WarehouseColumn(
                name=column["name"],
                type=column.get("type_text") or str(column.get("type_name") or "").lower(),
                scalar=str(column.get("type_name") or "").upper() not in NON_KEY_TYPES,
                nullable=column.get("nullable", True),
                writable=not generated(column),
                primary_key=column["name"] in primary_key,
                description=column.get("comment") or "",
            )
            for column in sorted(table.get("columns") or [], key=lambda c: c.get("position", 0))
        )
        return FieldsDescription(
            object=self.full_name,
            source="live",
            fields=fields,
            options={
                **options,
                "table_type": table.get("table_type"),
                "data_source_format": table.get("data_source_format"),
            },
        )


def column_metadata(column: dict) -> dict:
    """The Delta field metadata Unity Catalog carries in a column's `type_json` (a JSON-encoded StructField)."""
    try:
        field = json.loads(column.get("type_json") or "{}")
    except ValueError:
        return {}
    metadata = field.get("metadata") if isinstance(field, dict) else None
    return metadata if isinstance(metadata, dict) else {}


def generated(column: dict) -> bool:
    """GENERATED ALWAYS AS IDENTITY (`delta.identity.allowExplicitInsert` false) or a generated column
    (`delta.generationExpression`): Delta computes the value and refuses one given for it."""
    metadata = column_metadata(column)
    identity_always = "delta.identity.start" in metadata and not metadata.get("delta.identity.allowExplicitInsert")
    return identity_always or "delta.generationExpression" in metadata


def backticked(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"
