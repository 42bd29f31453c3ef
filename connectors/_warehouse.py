"""The one merge-key rule of the warehouse destinations (BigQuery, Snowflake, Databricks).

Warehouse constraints are informational and most tables declare none (a typical BigQuery table has only
NULLABLE columns), so every scalar, writable column may be chosen as a sync key; the columns most likely to
identify a row (primary key, unique, NOT NULL) are marked `recommended_key`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .runtime.base import DestinationField


@dataclass(frozen=True)
class WarehouseColumn:
    """A column as the warehouse describes it, in the terms the rule needs."""

    name: str
    type: str
    scalar: bool  # not nested, semi-structured or floating point: a value that can be compared for equality
    nullable: bool
    writable: bool = True  # not virtual, computed or GENERATED ALWAYS
    has_default: bool = False
    primary_key: bool = False
    unique: bool = False
    description: str = ""
    data_type: str = "string"  # the normalized type, read from `type` with the warehouse's own table
    max_length: int | None = None


def warehouse_fields(columns: Iterable[WarehouseColumn]) -> tuple[list[DestinationField], dict]:
    """(fields, options): every scalar writable column is a possible key; PK, unique and NOT NULL are recommended."""
    columns = list(columns)
    fields = []
    for column in columns:
        possible_key = column.scalar and column.writable
        fields.append(
            DestinationField(
                name=column.name,
                label=column.name,
                type=column.type,
                required=column.writable and not column.nullable and not column.has_default,
                identifier=possible_key,
                createable=column.writable,
                updateable=column.writable,
                nullable=column.nullable,
                recommended_key=possible_key and (column.primary_key or column.unique or not column.nullable),
                description=column.description,
                data_type=column.data_type,
                max_length=column.max_length,
                # Constraints are informational: only a declared primary key or unique one says "unique".
                unique=column.primary_key or column.unique,
            )
        )
    keyed = [c for c in columns if c.scalar and c.writable]
    ranked = (
        [c.name for c in keyed if c.primary_key]
        + [c.name for c in keyed if c.unique and not c.primary_key]
        + [c.name for c in keyed if not c.nullable and not (c.primary_key or c.unique)]
    )
    if any(c.primary_key for c in keyed):
        source = "primary_key"
    elif any(c.unique for c in keyed):
        source = "unique_key"
    elif ranked:
        source = "not_null_columns"
    else:
        source = "any_scalar_column"
    options = {
        "primary_key": [c.name for c in columns if c.primary_key],
        "recommended_keys": ranked,
        "key_source": source,
    }
    return fields, options
