"""Built-in gates whose inputs are all in the gate context."""

from __future__ import annotations

from typing import Any

from shiplane_sdk import Gate, GateContext, GateResult


class ReleaseNotDeprecated(Gate):
    id = "release-not-deprecated"
    display_name = "Release not deprecated"
    description = "Blocks the promotion of a deprecated (quarantined) release."
    config_schema = {"type": "object", "additionalProperties": False, "properties": {}}

    def evaluate(self, ctx: GateContext, config: dict[str, Any]) -> GateResult:
        state = ctx.release.get("state")
        details = {"releaseId": ctx.release.get("id"), "releaseState": state}
        if state == "deprecated":
            return GateResult.failed("the release is deprecated", details)
        return GateResult.passed("the release is not deprecated", details)
