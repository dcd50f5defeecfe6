"""Built-in step types that need nothing but the core."""

from __future__ import annotations

import asyncio
from typing import Any

from shiplane_sdk import StepCancelled, StepContext, StepResult, StepType


class Wait(StepType):
    id = "wait"
    display_name = "Wait"
    description = "Pause the workflow for a number of seconds (cancellable)."
    idempotent = True
    config_schema = {
        "type": "object",
        "additionalProperties": False,
        "required": ["seconds"],
        "properties": {"seconds": {"type": "number", "minimum": 0, "maximum": 86400}},
    }

    async def run(self, ctx: StepContext, config: dict[str, Any]) -> StepResult:
        remaining = float(config["seconds"])
        ctx.log(f"waiting {remaining:g}s")
        while remaining > 0:
            if ctx.is_cancelled():
                raise StepCancelled("wait cancelled")
            step = min(remaining, 0.5)
            await asyncio.sleep(step)
            remaining -= step
        return StepResult(status="succeeded", outputs={"waitedSeconds": config["seconds"]}, message="done")
