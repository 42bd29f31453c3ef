"""docs/support.md claims only what CI runs: the Python, PostgreSQL and Redis this suite runs on are listed.

`.ci/run` runs the suite on PostgreSQL and on SQLite with Redis up, so between the two runs each listed
component is the one in use; a CI machine that moves to a version the table does not name fails here until
the table says so.
"""

from __future__ import annotations

import re
import sys

import pytest
import redis
from django.db import connection

from tests.topology import REDIS_TEST_URL, ROOT, redis_available

PAGE = ROOT / "docs" / "support.md"
BEGIN, END = "<!-- support-matrix: checked by tests/docs/test_support_matrix.py -->", "<!-- /support-matrix -->"


def versions_in_the_matrix() -> dict[str, set[str]]:
    """Component → the versions its 'Tested by CI' cell lists."""
    table = PAGE.read_text().split(BEGIN)[1].split(END)[0]
    rows = [line.split("|")[1:-1] for line in table.strip().splitlines()[2:]]
    return {cells[0].strip(): set(re.findall(r"\d+(?:\.\d+)?", cells[1])) for cells in rows}


def test_the_python_running_the_suite_is_listed():
    assert f"{sys.version_info.major}.{sys.version_info.minor}" in versions_in_the_matrix()["Python"]


@pytest.mark.django_db
def test_the_postgresql_running_the_suite_is_listed():
    if connection.vendor != "postgresql":
        pytest.skip("the suite runs on SQLite; .ci/run also runs it on PostgreSQL")
    major = str(connection.cursor().connection.info.server_version // 10000)
    assert major in versions_in_the_matrix()["PostgreSQL"]


def test_the_redis_running_the_suite_is_listed():
    if not redis_available():
        pytest.skip("Redis is down; .ci/run starts it")
    version = redis.Redis.from_url(REDIS_TEST_URL).info("server")["redis_version"]
    assert ".".join(version.split(".")[:2]) in versions_in_the_matrix()["Redis"]
