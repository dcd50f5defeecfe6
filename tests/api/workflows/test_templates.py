"""Templates: versions, and validate reporting every problem with its node and field."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.plugins import disable, enable
from tests.api.workflows import RUNS, TEMPLATES, node, start, template, wait_for
from tests.conftest import Caller, assert_error

SCHEMA = {"type": "object", "additionalProperties": False, "properties": {"version": {"type": "string"}}}

# (what is wrong, nodes, inputs schema or None, the problem expected: (node, field, code))
INVALID: list[tuple[str, list[dict[str, Any]], dict[str, Any] | None, tuple[str | None, str, str]]] = [
    ("duplicate id", [node("a"), node("a")], None, ("a", "nodes.1.id", "duplicate_id")),
    ("unknown dependency", [node("a", depends=["ghost"])], None, ("a", "dependsOn.0", "unknown_dependency")),
    ("self dependency", [node("a", depends=["a"])], None, ("a", "dependsOn.0", "cycle")),
    (
        "repeated dependency",
        [node("a"), node("b", depends=["a", "a"])],
        None,
        ("b", "dependsOn.1", "duplicate_dependency"),
    ),
    (
        "cycle",
        [node("a", depends=["c"]), node("b", depends=["a"]), node("c", depends=["b"])],
        None,
        ("a", "dependsOn", "cycle"),
    ),
    ("unknown step type", [node("a", type="no-such-step")], None, ("a", "type", "unknown_step_type")),
    ("config against the schema", [node("a", config={"key": "k", "fail": "x"})], None, ("a", "config.fail", "type")),
    ("config missing a required field", [node("a", config={})], None, ("a", "config.key", "required")),
    (
        "config with an unknown field",
        [node("a", config={"key": "k", "bogus": 1})],
        None,
        ("a", "config.bogus", "additionalProperties"),
    ),
    ("expression does not parse", [node("a", config={"key": "${{ inputs. }}"})], None, ("a", "config", "expression")),
    ("unclosed expression", [node("a", config={"key": "${{ inputs.version"})], None, ("a", "config", "expression")),
    ("unknown input", [node("a", config={"key": "${{ inputs.nope }}"})], SCHEMA, ("a", "config.key", "unknown_input")),
    (
        "unknown step in expression",
        [node("a", config={"key": "${{ steps.ghost.outputs.x }}"})],
        None,
        ("a", "config.key", "unknown_step"),
    ),
    (
        "reads a step that runs later",
        [node("a", config={"key": "${{ steps.b.outputs.x }}"}), node("b")],
        None,
        ("a", "config.key", "not_upstream"),
    ),
    (
        "reads something a step does not offer",
        [node("a"), node("b", config={"key": "${{ steps.a.secret }}"}, depends=["a"])],
        None,
        ("b", "config.key", "bad_reference"),
    ),
    ("when does not parse", [node("a", when="inputs.version ==")], None, ("a", "when", "expression")),
    ("when names an unknown input", [node("a", when="inputs.nope == 'x'")], SCHEMA, ("a", "when", "unknown_input")),
    (
        "escape attempt in an expression",
        [node("a", config={"key": "${{ inputs.__class__ }}"})],
        None,
        ("a", "config", "expression"),
    ),
    ("inputs schema is not a schema", [node("a")], {"type": "no-such-type"}, (None, "inputsSchema.type", "schema")),
]


@pytest.mark.parametrize(("what", "nodes", "schema", "expected"), INVALID, ids=[case[0] for case in INVALID])
def test_validate_names_the_node_and_field_and_runs_are_refused(
    admin: Caller,
    what: str,
    nodes: list[dict[str, Any]],
    schema: dict[str, Any] | None,
    expected: tuple[str | None, str, str],
) -> None:
    fields = {"inputsSchema": schema} if schema is not None else {}
    flow = template(admin, nodes, **fields)
    report = admin.post(f"{TEMPLATES}/{flow['id']}/validate").json()["data"]
    assert report["valid"] is False
    found = [(p["node"], p["field"], p["code"]) for p in report["problems"]]
    assert expected in found, (what, report["problems"])
    refused = assert_error(admin.post(RUNS, json={"templateId": flow["id"]}), 422, "TEMPLATE_INVALID")
    assert [(p["node"], p["field"], p["code"]) for p in refused["details"]["problems"]] == found


def test_a_disabled_step_type_is_reported(admin: Caller) -> None:
    flow = template(admin, [node("a")])
    assert admin.post(f"{TEMPLATES}/{flow['id']}/validate").json()["data"]["valid"] is True
    disable(admin, "test-events")
    problems = admin.post(f"{TEMPLATES}/{flow['id']}/validate").json()["data"]["problems"]
    assert [(p["node"], p["field"], p["code"]) for p in problems] == [("a", "type", "step_type_disabled")]
    enable(admin, "test-events")


def test_a_put_makes_a_new_version_and_runs_keep_theirs(admin: Caller) -> None:
    first = [node("a", config={"key": f"{admin.tenant_id}:v1", "echo": "one"})]
    flow = template(admin, first)
    assert flow["currentVersion"] == 1 and flow["templateVersion"] == 1
    run = wait_for(admin, start(admin, flow["id"])["id"])
    second = [node("a", config={"key": f"{admin.tenant_id}:v2", "echo": "two"})]
    replaced = admin.put(
        f"{TEMPLATES}/{flow['id']}", json={"name": "flow", "nodes": second, "version": flow["version"]}
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["data"]["currentVersion"] == 2
    old = admin.get(f"{TEMPLATES}/{flow['id']}", params={"templateVersion": 1}).json()["data"]
    assert old["nodes"][0]["config"]["echo"] == "one" and old["templateVersion"] == 1
    assert run["templateVersion"] == 1
    assert admin.get(f"{RUNS}/{run['id']}").json()["data"]["steps"][0]["outputs"]["echo"] == "one"
    rerun = wait_for(admin, start(admin, flow["id"])["id"])
    assert rerun["templateVersion"] == 2 and rerun["steps"][0]["outputs"]["echo"] == "two"
    stale = {"name": "flow", "nodes": second, "version": flow["version"]}
    assert_error(admin.put(f"{TEMPLATES}/{flow['id']}", json=stale), 409, "VERSION_CONFLICT")
    assert admin.delete(f"{TEMPLATES}/{flow['id']}").status_code == 204
    # The runs stay, with their pinned definition.
    assert admin.get(f"{RUNS}/{run['id']}").status_code == 200
