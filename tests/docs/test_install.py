"""`make run` installs the runtime only: no test tool is a runtime dependency, and its recipe installs no extra."""

from __future__ import annotations

import re
import subprocess
import tomllib

from tests.topology import ROOT

PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\[<>=!~ ;]", requirement, maxsplit=1)[0].lower() for requirement in requirements}


def test_no_test_tool_is_a_runtime_dependency():
    runtime, dev = names(PROJECT["dependencies"]), names(PROJECT["optional-dependencies"]["dev"])
    assert not runtime & dev
    assert not runtime & {"pytest", "moto", "selenium", "schemathesis", "werkzeug", "mkdocs", "honcho"}


def test_make_run_installs_the_project_without_extras(tmp_path):
    # A fresh venv path, so make prints the whole install recipe without running anything.
    printed = subprocess.run(
        ["make", "-n", "--no-print-directory", "run", f"VENV={tmp_path / 'venv'}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    installs = [line for line in printed.splitlines() if " install " in line and "--upgrade pip" not in line]
    assert installs and all(line.rstrip().endswith(" -e .") for line in installs), printed
