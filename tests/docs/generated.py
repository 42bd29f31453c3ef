"""Docs tables generated from the registry: one check that a page's generated block is current.

The block sits between two HTML comments; `UPDATE_DOCS=1 pytest tests/docs` rewrites it in place.
"""

from __future__ import annotations

import os
import pathlib

DOCS = pathlib.Path(__file__).resolve().parents[2] / "docs"


def assert_generated_block(page: pathlib.Path, begin: str, end: str, table: str) -> None:
    text = page.read_text()
    head, _, rest = text.partition(begin)
    _, _, tail = rest.partition(end)
    expected = f"{head}{begin}\n{table}\n{end}{tail}"
    if os.environ.get("UPDATE_DOCS") == "1":
        page.write_text(expected)
    assert begin in text and end in text, f"{page} lacks the generated table's markers"
    assert text == expected, f"{page.name} is out of date: run UPDATE_DOCS=1 pytest tests/docs"
