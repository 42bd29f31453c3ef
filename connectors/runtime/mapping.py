"""Checking a sync's field mapping against the fields a destination describes, before the first sync runs.

Works on the fields description as the API serves it (FieldsDescription.as_dict(), cached or live), so what
is checked is exactly what a client sees. Each problem names its code, where it is (`path`), what is wrong and
what to do; errors make the mapping invalid, warnings do not. Audience identifiers get a preview of what a sync
would send for the sample values given: prepared here, never sent anywhere.
"""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass, field
from fnmatch import fnmatchcase

from .identifiers import prepare
from .sqltypes import sql_data_type, sql_max_length

ERROR, WARNING = "error", "warning"
MAX_SAMPLES = 10
# Modes that create records (required fields must be mapped) and modes that match existing ones (an identifier
# pair is needed). Mirror adds and removes: it creates, and it matches what to remove.
CREATING = {"insert", "upsert", "mirror"}
MATCHING = {"update", "upsert", "mirror"}
# Source type -> destination types a sync writes without a cast: the value keeps its meaning.
LOSSLESS = {
    "integer": {"integer", "number", "string", "enum"},
    "number": {"number", "string"},
    "boolean": {"boolean", "string"},
    "date": {"date", "datetime", "string"},
    "datetime": {"datetime", "string"},
    "string": {"string", "enum"},
    "json": {"json"},
    "array": {"array"},
    "enum": {"enum", "string"},
}
# (source, destination) -> the casts that make a column fit, in the warehouse's SQL: named, never applied.
COERCIONS = {
    ("datetime", "date"): ["CAST(<column> AS DATE): keeps the calendar date (in the timestamp's time zone)"],
    ("number", "integer"): ["ROUND(<column>)", "CAST(<column> AS BIGINT): when every value is whole"],
    ("string", "integer"): ["TRY_CAST(<column> AS BIGINT): non-numeric values become NULL"],
    ("string", "number"): ["TRY_CAST(<column> AS DOUBLE): non-numeric values become NULL"],
    ("string", "boolean"): ["<column> IN ('true', '1', 'yes'): states which values mean true"],
    ("string", "date"): ["TRY_CAST(<column> AS DATE): values not in ISO 8601 become NULL"],
    ("string", "datetime"): ["TRY_CAST(<column> AS TIMESTAMP): values not in ISO 8601 become NULL"],
    ("boolean", "integer"): ["CASE WHEN <column> THEN 1 ELSE 0 END"],
    ("json", "string"): ["TO_JSON(<column>): the object as JSON text"],
    ("array", "string"): ["ARRAY_TO_STRING(<column>, ';'): the elements joined by ';'"],
    ("string", "array"): ["SPLIT(<column>, ';'): one element per ';'-separated part"],
    ("string", "json"): ["PARSE_JSON(<column>): when every value is JSON text"],
    ("json", "array"): ["<column> as a JSON array: only when every value is an array"],
}


@dataclass
class Problem:
    code: str
    severity: str
    path: str
    message: str
    remediation: str
    coercions: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        data = asdict(self)
        if not self.coercions:
            del data["coercions"]
        return data


def validate_mapping(description: dict, request: dict) -> dict:
    """`request`: source_columns [{name, type}], mapping [{source, destination, samples?}], identifier
    {source, destination} (optional for insert) and sync_mode. The answer: valid, per-entry problems and previews,
    and the problems of the mapping as a whole."""
    fields = {f["name"]: f for f in description.get("fields") or []}
    columns = {c["name"]: c for c in request.get("source_columns") or []}
    mode = request.get("sync_mode", "")
    overall: list[Problem] = []
    modes = list(description.get("sync_modes") or [])
    if modes and mode not in modes:
        overall.append(
            Problem(
                "mode_not_supported",
                ERROR,
                "sync_mode",
                f"This destination type does not support the sync mode '{mode}'.",
                f"Choose one of: {', '.join(modes)}.",
            )
        )
    entries = []
    claimed: dict[str, int] = {}
    for index, entry in enumerate(request.get("mapping") or []):
        path = f"mapping.{index}"
        problems: list[Problem] = []
        target = fields.get(entry["destination"])
        source_type = _source_type(columns.get(entry["source"]), entry["source"], f"{path}.source", problems)
        if entry["destination"] in claimed:
            first = claimed[entry["destination"]]
            problems.append(
                Problem(
                    "duplicate_destination",
                    ERROR,
                    f"{path}.destination",
                    f"'{entry['destination']}' is already the target of mapping.{first}: two columns cannot write "
                    "one field.",
                    "Map only one column to it; combine the columns in the source query (COALESCE, CONCAT) if both "
                    "are needed.",
                )
            )
        else:
            claimed[entry["destination"]] = index
        if target is None:
            problems += _unknown_field(description, entry["destination"], f"{path}.destination", fields)
        else:
            problems += _writable(target, mode, f"{path}.destination", is_key=_is_key(request, entry))
            if source_type:
                problems += _type_fit(columns[entry["source"]], source_type, target, path)
        result = {
            "index": index,
            "source": entry["source"],
            "destination": entry["destination"],
            "source_type": source_type,
            "destination_type": target.get("data_type") if target else None,
            "problems": [p.as_dict() for p in problems],
        }
        if target and target.get("identifier_kind") and entry.get("samples"):
            kind = target["identifier_kind"]
            result["preview"] = {
                "kind": kind["kind"],
                "normalize": kind["normalize"],
                "hash": kind["hash"],
                "source": kind["source"],
                "values": [{"input": value, **prepare(kind, value)} for value in entry["samples"][:MAX_SAMPLES]],
            }
        entries.append(result)
    mapped = set(claimed)
    if mode in CREATING:
        for name, spec in fields.items():
            if spec.get("required") and name not in mapped:
                overall.append(
                    Problem(
                        "required_field_not_mapped",
                        ERROR,
                        "mapping",
                        f"'{name}' is required to create a record and no column is mapped to it.",
                        f"Map a column to '{name}'"
                        + (" or give it a default in the destination." if spec.get("nullable") is False else "."),
                    )
                )
    overall += _identifier(request, fields, columns, mode)
    problems = overall + [Problem(**p) for e in entries for p in e["problems"]]
    return {
        "valid": not any(p.severity == ERROR for p in problems),
        "sync_mode": mode,
        "entries": entries,
        "problems": [p.as_dict() for p in overall],
    }


def _source_type(column: dict | None, name: str, path: str, problems: list[Problem]) -> str | None:
    if column is None:
        problems.append(
            Problem(
                "unknown_column",
                ERROR,
                path,
                f"'{name}' is not among the source columns given.",
                "Use a column of source_columns, or add it there with its warehouse type.",
            )
        )
        return None
    data_type = sql_data_type(column.get("type", ""))
    if data_type is None:
        problems.append(
            Problem(
                "unknown_source_type",
                WARNING,
                path,
                f"The source type '{column.get('type')}' is not one this check knows, so its fit is not checked.",
                "Give the type as the warehouse reports it (VARCHAR(255), NUMBER(38,0), TIMESTAMP_NTZ, …).",
            )
        )
    return data_type


def _unknown_field(description: dict, name: str, path: str, fields: dict) -> list[Problem]:
    pattern = description.get("new_fields") or ""
    if pattern and fnmatchcase(name, pattern):
        return [
            Problem(
                "new_field",
                WARNING,
                path,
                f"'{name}' is not a field yet; the destination creates it on the first write.",
                "Nothing to do if a new field is intended; otherwise map to an existing field.",
            )
        ]
    close = difflib.get_close_matches(name, list(fields), n=3)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return [
        Problem(
            "unknown_field",
            ERROR,
            path,
            f"The destination has no field '{name}'.{hint}",
            "Map to a field the fields endpoint lists (GET …/fields?refresh=true reads the vendor anew, after a "
            "field was created there).",
        )
    ]


def _writable(target: dict, mode: str, path: str, *, is_key: bool) -> list[Problem]:
    """insert and mirror create; update updates; upsert does both (its key only matches, it is never updated)."""
    needs = {"insert": ("createable",), "mirror": ("createable",), "update": ("updateable",)}.get(
        mode, ("createable",) if is_key else ("createable", "updateable")
    )
    if is_key and mode == "update":
        return []
    missing = [what for what in needs if target.get(what) is False]
    if not missing:
        return []
    doing = " or ".join({"createable": "created", "updateable": "updated"}[m] for m in missing)
    return [
        Problem(
            "not_writable",
            ERROR,
            path,
            f"'{target['name']}' cannot be written when a record is {doing} ({mode} mode).",
            "Remove this entry, or choose a mode in which the field is writable; the vendor sets this field itself "
            "or its field-level security hides it from the connected user.",
        )
    ]


def _type_fit(column: dict, source_type: str, target: dict, path: str) -> list[Problem]:
    data_type = target.get("data_type", "string")
    problems = []
    if data_type not in LOSSLESS.get(source_type, set()):
        coercions = [c.replace("<column>", column["name"]) for c in COERCIONS.get((source_type, data_type), [])]
        problems.append(
            Problem(
                "type_mismatch",
                ERROR,
                path,
                f"'{column['name']}' is {source_type} ({column.get('type')}) but '{target['name']}' takes "
                f"{data_type} ({target.get('type')}).",
                "Cast the column in the source query"
                + (" with one of the coercions listed." if coercions else "; no cast keeps these values' meaning."),
                coercions,
            )
        )
    elif data_type == "enum" and target.get("choices"):
        shown = ", ".join(target["choices"][:20])
        problems.append(
            Problem(
                "enum_values",
                WARNING,
                path,
                f"'{target['name']}' takes only its options ({shown}); other values are refused.",
                "Make sure the column holds only these values (CASE … END in the source query).",
            )
        )
    length, limit = sql_max_length(column.get("type", "")), target.get("max_length")
    if limit and (length is None or length > limit) and data_type == "string":
        problems.append(
            Problem(
                "may_exceed_max_length",
                WARNING,
                path,
                f"'{target['name']}' holds at most {limit} characters; '{column['name']}' may hold more.",
                f"Cut longer values in the source query: LEFT({column['name']}, {limit}).",
            )
        )
    return problems


def _is_key(request: dict, entry: dict) -> bool:
    pair = request.get("identifier") or {}
    return pair.get("destination") == entry["destination"] and pair.get("source") == entry["source"]


def _identifier(request: dict, fields: dict, columns: dict, mode: str) -> list[Problem]:
    pair = request.get("identifier")
    if not pair:
        if mode in MATCHING:
            return [
                Problem(
                    "identifier_missing",
                    ERROR,
                    "identifier",
                    f"The {mode} mode matches existing records, and no identifier pair says by what.",
                    "Give identifier {source, destination}: a source column and a destination field marked identifier.",
                )
            ]
        return []
    problems = []
    if pair["source"] not in columns:
        problems.append(
            Problem(
                "unknown_column",
                ERROR,
                "identifier.source",
                f"'{pair['source']}' is not among the source columns given.",
                "Use a column of source_columns.",
            )
        )
    target = fields.get(pair["destination"])
    if target is None:
        return problems + _unknown_field({}, pair["destination"], "identifier.destination", fields)
    keys = [name for name, spec in fields.items() if spec.get("identifier")]
    if not target.get("identifier"):
        problems.append(
            Problem(
                "not_an_identifier",
                ERROR,
                "identifier.destination",
                f"'{target['name']}' cannot identify records in this destination.",
                f"Choose one of: {', '.join(keys[:20])}." if keys else "This destination offers no identifier.",
            )
        )
    elif target.get("unique") is False:
        unique = [name for name in keys if fields[name].get("unique")]
        problems.append(
            Problem(
                "identifier_not_unique",
                WARNING,
                "identifier.destination",
                f"'{target['name']}' does not guarantee one record per value: a value may match several records.",
                (f"Prefer a unique identifier: {', '.join(unique[:20])}." if unique else "")
                + " Or make the field unique in the destination (a unique constraint, 'Unique' on the field).",
            )
        )
    if pair["source"] in columns:
        source_type = sql_data_type(columns[pair["source"]].get("type", ""))
        if source_type:
            problems += _type_fit(columns[pair["source"]], source_type, target, "identifier")
    return problems
