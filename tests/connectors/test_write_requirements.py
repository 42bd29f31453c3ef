"""The write-proof contract: every type declares the privileges its first sync needs, and how each is proved.

A green test must mean the first sync works, so each requirement names the vendor page saying the sync needs it
and either a side-effect-free proof or the reason none exists (then it is reported as unproven, never passed).
"""

from __future__ import annotations

import pytest

from connectors.runtime.base import Connector, Requirement, Step
from connectors.runtime.registry import connector_classes

TYPES = sorted(connector_classes())


def requirements(connector: type[Connector]) -> list[tuple[Step, Requirement]]:
    return [(step, requirement) for step in connector.steps for requirement in step.proves]


@pytest.mark.parametrize("type_name", TYPES)
def test_every_type_declares_what_its_first_sync_needs(type_name):
    assert requirements(connector_classes()[type_name]), f"{type_name} declares no write requirement"


@pytest.mark.parametrize("type_name", TYPES)
def test_every_requirement_is_proved_or_says_why_it_cannot_be(type_name):
    for step, requirement in requirements(connector_classes()[type_name]):
        where = f"{type_name}.{step.name}: {requirement.privilege}"
        assert requirement.source.startswith("https://"), f"{where} cites no vendor page"
        assert bool(requirement.proof) != bool(requirement.unproven), f"{where} needs a proof or a reason, not both"


class _Declared(Connector):
    type = "declared"
    label = "Declared"
    config_schema = {"type": "object", "properties": {}}
    steps = (
        Step(
            "write",
            "Proves one privilege, cannot prove another.",
            proves=(
                Requirement("objects.write", "https://vendor.example/docs", proof="scope introspection"),
                Requirement("lists.write", "https://vendor.example/docs", unproven="no introspection", grant="Keys"),
            ),
        ),
        Step(
            "audience",
            "Proves one, reports it unproven for this config.",
            proves=(Requirement("audience.write", "https://vendor.example/docs", proof="token introspection"),),
        ),
    )

    def check_write(self):
        return "Wrote nothing."

    def check_audience(self):
        if self.config.get("no_audience"):
            self.report_not_needed("audience.write")
        else:
            self.report_unproven("audience.write", "this key type has no introspection")
        return "Read the audience."


def test_a_passed_step_names_what_it_proved_and_what_it_could_not():
    write, audience = _Declared({}).test()
    assert write.status == audience.status == "passed"
    assert write.details["proven"] == ["objects.write"]
    assert write.details["unproven"] == [{"privilege": "lists.write", "reason": "no introspection", "grant": "Keys"}]
    assert "Not proven before the first sync: lists.write" in write.message
    assert "proven" not in audience.details
    assert audience.details["unproven"] == [
        {"privilege": "audience.write", "reason": "this key type has no introspection"}
    ]


def test_the_types_api_shows_each_steps_requirements():
    (write, _audience) = _Declared.describe_type()["steps"]
    assert write["proves"][1] == {
        "privilege": "lists.write",
        "source": "https://vendor.example/docs",
        "unproven": "no introspection",
        "grant": "Keys",
    }


def test_a_privilege_this_config_never_uses_is_neither_proven_nor_unproven():
    _write, audience = _Declared({"no_audience": True}).test()
    assert audience.status == "passed"
    assert "proven" not in audience.details and "unproven" not in audience.details
    assert "Not proven" not in audience.message
