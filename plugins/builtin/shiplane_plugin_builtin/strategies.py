"""Rollout strategies: how a deployment's targets are split into batches."""

from __future__ import annotations

import math
from typing import Any

from shiplane_sdk import Batch, RolloutStrategy, TargetRef, TrafficStep


def _ordered(targets: list[TargetRef]) -> list[TargetRef]:
    # Plans are pure and repeatable: the same targets always give the same batches.
    return sorted(targets, key=lambda t: (t.name, t.id))


class AllAtOnce(RolloutStrategy):
    id = "all-at-once"
    display_name = "All at once"
    description = "Every target in one batch."
    config_schema = {"type": "object", "additionalProperties": False, "properties": {}}

    def plan(self, targets: list[TargetRef], config: dict[str, Any]) -> list[Batch]:
        return [Batch(index=0, targets=_ordered(targets))] if targets else []


class Rolling(RolloutStrategy):
    id = "rolling"
    display_name = "Rolling"
    description = "Targets in batches of a fixed size or a percentage of the fleet."
    config_schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "batchSize": {"type": "integer", "minimum": 1},
            "batchPercent": {"type": "integer", "minimum": 1, "maximum": 100},
            "maxUnavailable": {
                "type": "integer",
                "minimum": 0,
                "default": 0,
                "description": "How many targets may fail before the rollout stops (the rest are not deployed)",
            },
        },
        "not": {"required": ["batchSize", "batchPercent"]},
    }

    def plan(self, targets: list[TargetRef], config: dict[str, Any]) -> list[Batch]:
        ordered = _ordered(targets)
        if not ordered:
            return []
        if "batchPercent" in config:
            size = max(1, math.ceil(len(ordered) * config["batchPercent"] / 100))
        else:
            size = int(config.get("batchSize", 1))
        return [
            Batch(index=i, targets=ordered[start : start + size])
            for i, start in enumerate(range(0, len(ordered), size))
        ]


_STEPS_SCHEMA = {
    "type": "array",
    "minItems": 1,
    "items": {
        "type": "object",
        "additionalProperties": False,
        "required": ["weight"],
        "properties": {
            "weight": {"type": "integer", "minimum": 0, "maximum": 100},
            "pauseSeconds": {"type": "integer", "minimum": 0},
            "manual": {"type": "boolean"},
            "analysis": {"type": "object"},
        },
    },
}


class Canary(RolloutStrategy):
    id = "canary"
    display_name = "Canary"
    description = "Shift traffic to the candidate in weighted steps, checking health between steps."
    progressive = True
    config_schema = {"type": "object", "additionalProperties": False, "properties": {"steps": _STEPS_SCHEMA}}
    default_steps = [(10, 60), (50, 60), (100, 0)]

    def plan(self, targets: list[TargetRef], config: dict[str, Any]) -> list[Batch]:
        return AllAtOnce().plan(targets, {})

    def steps(self, config: dict[str, Any]) -> list[TrafficStep]:
        raw = config.get("steps") or [{"weight": w, "pauseSeconds": p} for w, p in self.default_steps]
        return [
            TrafficStep(
                weight=s["weight"],
                pause_seconds=s.get("pauseSeconds"),
                manual=bool(s.get("manual", False)),
                analysis=s.get("analysis"),
            )
            for s in raw
        ]


class BlueGreen(Canary):
    id = "blue-green"
    display_name = "Blue-green"
    description = "Deploy the candidate beside the current release, then switch all traffic at once."
    default_steps = [(0, 0), (100, 0)]


class AB(Canary):
    id = "ab"
    display_name = "A/B"
    description = "Split traffic between control and candidate at a fixed weight until promoted or rolled back."
    default_steps = [(50, 0)]
