"""A SQL column type, as a warehouse spells it, in the normalized types (base.DATA_TYPES).

Warehouses write parameters and element types into the name (`NUMBER(38,0)`, `VARCHAR(255)`, `ARRAY<STRING>`,
`TIMESTAMP_NTZ(9)`); `sql_data_type` strips them and looks the base name up in a table. Each warehouse
destination passes its own table (in its connector module, with its vendor page); a mapping's source columns,
which may come from any warehouse, are read with SOURCE_TYPES, the union of the spellings below.
"""

from __future__ import annotations

import re

_PARAMS = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_ ]*?)\s*(?:\((.*)\))?\s*$")
_ELEMENT = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*<")

# Standard SQL and the spellings of Snowflake, BigQuery, Databricks, PostgreSQL and Redshift.
SOURCE_TYPES = {
    **dict.fromkeys(
        ("VARCHAR", "CHAR", "CHARACTER", "CHARACTER VARYING", "STRING", "TEXT", "NVARCHAR", "NCHAR", "BPCHAR"),
        "string",
    ),
    **dict.fromkeys(("UUID", "TIME", "TIME WITHOUT TIME ZONE", "BINARY", "VARBINARY", "BYTES", "BYTEA"), "string"),
    **dict.fromkeys(
        ("INT", "INTEGER", "INT2", "INT4", "INT8", "INT64", "BIGINT", "SMALLINT", "TINYINT", "BYTEINT"),
        "integer",
    ),
    **dict.fromkeys(("LONG", "SHORT", "BYTE", "SERIAL", "BIGSERIAL"), "integer"),
    **dict.fromkeys(
        ("FLOAT", "FLOAT4", "FLOAT8", "FLOAT64", "DOUBLE", "DOUBLE PRECISION", "REAL", "BIGNUMERIC", "BIGDECIMAL"),
        "number",
    ),
    **dict.fromkeys(("NUMBER", "NUMERIC", "DECIMAL", "DEC"), "number"),  # integer when the scale is 0
    **dict.fromkeys(("BOOLEAN", "BOOL"), "boolean"),
    "DATE": "date",
    **dict.fromkeys(
        (
            "TIMESTAMP",
            "TIMESTAMP_NTZ",
            "TIMESTAMP_LTZ",
            "TIMESTAMP_TZ",
            "DATETIME",
            "TIMESTAMPTZ",
            "TIMESTAMP WITH TIME ZONE",
            "TIMESTAMP WITHOUT TIME ZONE",
        ),
        "datetime",
    ),
    **dict.fromkeys(("VARIANT", "OBJECT", "JSON", "JSONB", "SUPER", "STRUCT", "RECORD", "MAP"), "json"),
    **dict.fromkeys(("GEOGRAPHY", "GEOMETRY"), "json"),
    "ARRAY": "array",
}
_EXACT = {"NUMBER", "NUMERIC", "DECIMAL", "DEC"}


def sql_data_type(type_text: str, table: dict[str, str] = SOURCE_TYPES) -> str | None:
    """The normalized type of `type_text`; None when the table does not know its base name."""
    text = str(type_text or "").strip()
    element = _ELEMENT.match(text)
    if element:  # ARRAY<…>, STRUCT<…>, MAP<…>
        return table.get(element.group(1).upper())
    match = _PARAMS.match(text)
    if not match:
        return None
    base, params = match.group(1).upper(), match.group(2)
    data_type = table.get(base)
    if data_type == "number" and base in _EXACT:
        # NUMBER(38,0) is an integer; NUMBER without a scale is too on Snowflake (scale defaults to 0), but not
        # on PostgreSQL, so only an explicit scale of 0 says so.
        scale = params.split(",")[1].strip() if params and "," in params else None
        if scale == "0":
            return "integer"
    return data_type


def sql_max_length(type_text: str) -> int | None:
    """The length of VARCHAR(n) / STRING(n) / CHAR(n); None when unbounded or not a string type."""
    match = _PARAMS.match(str(type_text or ""))
    if not match or not match.group(2) or SOURCE_TYPES.get(match.group(1).upper()) != "string":
        return None
    length = match.group(2).strip()
    return int(length) if length.isdigit() else None
