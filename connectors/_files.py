"""What the object-storage destinations (s3, gcs) share: the files they write and how they describe them."""

from __future__ import annotations

from .runtime.base import FieldsDescription
from .runtime.schema import enum

FORMAT_OPTIONS = {
    "csv": {
        "extension": ".csv",
        "content_type": "text/csv",
        "delimiter": ",",
        "quote": '"',
        "header": True,
        "encoding": "UTF-8",
        "line_terminator": "\n",
        "null_value": "",
    },
    "jsonl": {
        "extension": ".jsonl",
        "content_type": "application/x-ndjson",
        "encoding": "UTF-8",
        "one_object_per_line": True,
    },
    "parquet": {"extension": ".parquet", "content_type": "application/vnd.apache.parquet", "row_group_rows": 100_000},
}


def file_format_properties() -> dict:
    return {
        "file_format": enum("Format of the files written.", list(FORMAT_OPTIONS), default="jsonl"),
        "compression": enum("Compression of each file (for Parquet: the column codec).", ["none", "gzip"], "none"),
    }


def file_fields(config: dict, *, location: str) -> FieldsDescription:
    """Free-form files: each mapped field becomes a column (CSV, Parquet) or a key of each JSON line."""
    file_format = config.get("file_format", "jsonl")
    compression = config.get("compression", "none")
    options = dict(FORMAT_OPTIONS[file_format])
    if compression == "gzip":
        if file_format == "parquet":
            options["codec"] = "gzip"  # inside the Parquet file; the name keeps .parquet
        else:
            options["extension"] += ".gz"
    return FieldsDescription(
        object=location,
        source="static",
        fields=[],
        new_fields="*",
        options={
            "free_form": True,
            "file_format": file_format,
            "compression": compression,
            "format_options": options,
            "key_template": f"{location}{{sync_id}}/{{run_id}}/part-{{part:05d}}{options['extension']}",
            "shape": "Each mapped field becomes a column (CSV, Parquet) or a key of each JSON line (JSONL). Files "
            "are only added, never updated, so there is no sync key; a run's files share its run_id.",
        },
    )
