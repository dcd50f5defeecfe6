from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from shiplane.platform.schemas import ApiModel, Integral

CapabilityKindName = Literal[
    "integration_type", "step_type", "gate", "rollout_strategy", "target_type", "traffic_router"
]


class PluginInstanceFields(ApiModel):
    name: Annotated[str, StringConstraints(pattern=r"^[a-z0-9]([a-z0-9-]{0,98}[a-z0-9])?$")]
    description: Annotated[str, StringConstraints(max_length=2000)] = ""
    plugin_id: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    capability_kind: CapabilityKindName
    capability_id: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    config: dict[str, Any] = Field(default_factory=dict)


class PluginInstanceCreate(PluginInstanceFields):
    pass


class PluginInstanceReplace(PluginInstanceFields):
    version: Annotated[int, Field(ge=1), Integral] | None = None
