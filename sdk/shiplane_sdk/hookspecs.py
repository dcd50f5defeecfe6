"""Every hook a Shiplane plugin can implement: the one module to read.

A plugin is a module or object with functions marked ``@hookimpl`` (from
``shiplane_sdk``) whose names are the names below; it implements only the hooks
it needs and may omit trailing arguments it does not use. The core loads each
plugin from its ``shiplane.plugins`` entry point and registers it with a pluggy
``PluginManager("shiplane")`` under the entry-point name (the plugin id), then
runs ``check_pending()``: a ``@hookimpl`` whose name is not a hook below is an
error, so a misspelled hook never goes unnoticed.

Sync or async: a hook documented as returning ``X | Awaitable[X]`` may be an
``async def``; the core awaits it. Sync hooks run in a thread pool. Every call
goes through the core's guard (timeout, exceptions caught and recorded against
the plugin, a circuit breaker); the failure semantics of each hook are in its
docstring.
"""

# Hook specs have no body: pluggy reads only their name and signature.
# mypy: disable-error-code="empty-body"

from __future__ import annotations

from collections.abc import Awaitable

from shiplane_sdk.capabilities import (
    Capability,
    Gate,
    IntegrationType,
    RolloutStrategy,
    StepType,
    TargetType,
    TrafficRouter,
)
from shiplane_sdk.markers import hookspec
from shiplane_sdk.models import Event, HealthReport, PluginInfo

__all__ = ["HOOK_NAMES", "REGISTRATION_HOOKS"]


# ---------------------------------------------------------------------------
# Identity and health: called on one plugin at a time
# ---------------------------------------------------------------------------


@hookspec(firstresult=True)
def plugin_info() -> PluginInfo:
    """Describe the plugin: name, version, vendor, description, homepage, SDK range.

    Called once, right after the plugin is loaded, on that plugin alone (the
    first non-None result is the answer). Synchronous. If ``sdk_requires`` does
    not admit the installed SDK, or the hook raises or returns something other
    than a ``PluginInfo``, the plugin is not loaded and shows ``failed`` with the
    reason. Without this hook the core uses the distribution's metadata and
    assumes the default ``sdk_requires``.
    """


@hookspec(firstresult=True)
def plugin_health() -> HealthReport | Awaitable[HealthReport]:
    """Report the plugin's own health (``GET /api/v1/plugins/{id}/health``).

    Called on that plugin alone, on request and periodically; may be async. A
    plugin without this hook is ``ok`` unless its calls keep failing. If it
    raises or times out the plugin is reported ``failing`` with the error; the
    core's circuit breaker reports ``degraded`` after repeated call failures
    whatever this hook says.
    """


# ---------------------------------------------------------------------------
# Registration: called once per plugin at start-up
# ---------------------------------------------------------------------------


@hookspec
def register_integration_types() -> list[IntegrationType]:
    """Return the integration types the plugin adds (registries, SCMs, notifiers...).

    Synchronous; called once per plugin after loading. Return a list of
    ``IntegrationType`` instances whose ids are unique per kind among all installed
    plugins. If the hook raises, returns anything else, or repeats an id that is
    already registered, the plugin shows ``failed`` and none of its capabilities
    are registered; other plugins are not affected.
    """


@hookspec
def register_step_types() -> list[StepType]:
    """Return the workflow step types the plugin adds.

    Synchronous; called once per plugin after loading. Return a list of
    ``StepType`` instances whose ids are unique per kind among all installed
    plugins. If the hook raises, returns anything else, or repeats an id that is
    already registered, the plugin shows ``failed`` and none of its capabilities
    are registered; other plugins are not affected.
    """


@hookspec
def register_gates() -> list[Gate]:
    """Return the promotion gates the plugin adds.

    Synchronous; called once per plugin after loading. Return a list of
    ``Gate`` instances whose ids are unique per kind among all installed
    plugins. If the hook raises, returns anything else, or repeats an id that is
    already registered, the plugin shows ``failed`` and none of its capabilities
    are registered; other plugins are not affected.
    """


@hookspec
def register_rollout_strategies() -> list[RolloutStrategy]:
    """Return the rollout strategies the plugin adds (rolling, canary, ...).

    Synchronous; called once per plugin after loading. Return a list of
    ``RolloutStrategy`` instances whose ids are unique per kind among all installed
    plugins. If the hook raises, returns anything else, or repeats an id that is
    already registered, the plugin shows ``failed`` and none of its capabilities
    are registered; other plugins are not affected.
    """


@hookspec
def register_target_types() -> list[TargetType]:
    """Return the target types the plugin adds (they run on agents).

    Synchronous; called once per plugin after loading (on the server and on each agent). Return a list of
    ``TargetType`` instances whose ids are unique per kind among all installed
    plugins. If the hook raises, returns anything else, or repeats an id that is
    already registered, the plugin shows ``failed`` and none of its capabilities
    are registered; other plugins are not affected.
    """


@hookspec
def register_traffic_routers() -> list[TrafficRouter]:
    """Return the traffic routers the plugin adds (for A/B releases).

    Synchronous; called once per plugin after loading. Return a list of
    ``TrafficRouter`` instances whose ids are unique per kind among all installed
    plugins. If the hook raises, returns anything else, or repeats an id that is
    already registered, the plugin shows ``failed`` and none of its capabilities
    are registered; other plugins are not affected.
    """


# ---------------------------------------------------------------------------
# Events: after each committed change
# ---------------------------------------------------------------------------


@hookspec
def on_event(event: Event) -> None | Awaitable[None]:
    """Receive a domain event of a tenant that enabled the plugin.

    Called after the change's transaction committed, at least once per plugin
    (deduplicate on ``event.id`` if a repeat matters), in order per tenant as far
    as the delivery allows; may be async. Fail open: an exception or timeout is
    logged and recorded against the plugin, and delivery to other plugins and
    of later events continues. Return quickly; do slow work elsewhere.
    """


# ---------------------------------------------------------------------------
# Process lifecycle
# ---------------------------------------------------------------------------


@hookspec
def startup() -> None | Awaitable[None]:
    """Prepare the plugin once per process, after every plugin is registered.

    Called on the server and on agents, before any capability is used; may be
    async (open pools, warm caches). If it raises, the plugin shows ``failed``
    with the error and its capabilities are not used; the process starts anyway.
    """


@hookspec
def shutdown() -> None | Awaitable[None]:
    """Release what ``startup`` acquired; called once when the process stops.

    May be async. Exceptions are logged and ignored; the call has a short
    timeout, after which the process stops anyway.
    """


#: Every hook name, in the order above.
HOOK_NAMES: tuple[str, ...] = (
    "plugin_info",
    "plugin_health",
    "register_integration_types",
    "register_step_types",
    "register_gates",
    "register_rollout_strategies",
    "register_target_types",
    "register_traffic_routers",
    "on_event",
    "startup",
    "shutdown",
)

#: The ``register_*`` hooks and the capability base class each one returns.
REGISTRATION_HOOKS: dict[str, type[Capability]] = {
    "register_integration_types": IntegrationType,
    "register_step_types": StepType,
    "register_gates": Gate,
    "register_rollout_strategies": RolloutStrategy,
    "register_target_types": TargetType,
    "register_traffic_routers": TrafficRouter,
}
