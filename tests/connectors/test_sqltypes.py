import pytest

from connectors.runtime.sqltypes import sql_data_type, sql_max_length


@pytest.mark.parametrize(
    ("spelled", "data_type"),
    [
        ("NUMBER(38,0)", "integer"),
        ("NUMBER(10,2)", "number"),
        ("numeric", "number"),  # PostgreSQL: no scale given is not an integer
        ("INT64", "integer"),
        ("bigint", "integer"),
        ("VARCHAR(16777216)", "string"),
        ("character varying(40)", "string"),
        ("TIMESTAMP_NTZ(9)", "datetime"),
        ("timestamp with time zone", "datetime"),
        ("DATE", "date"),
        ("BOOL", "boolean"),
        ("VARIANT", "json"),
        ("ARRAY<STRING>", "array"),
        ("STRUCT<a INT64>", "json"),
        ("map<string,string>", "json"),
        ("FLOAT64", "number"),
    ],
)
def test_warehouse_spellings_read_as_normalized_types(spelled, data_type):
    assert sql_data_type(spelled) == data_type


def test_an_unknown_type_is_none_and_lengths_come_from_string_types_only():
    assert sql_data_type("HYPERLOGLOG") is None
    assert sql_max_length("VARCHAR(255)") == 255
    assert sql_max_length("NUMBER(38,0)") is None
    assert sql_max_length("STRING") is None
