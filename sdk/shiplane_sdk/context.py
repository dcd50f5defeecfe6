"""What the core hands a capability while it runs (typing protocols).

The core provides the real implementations; :mod:`shiplane_sdk.testing` provides
fakes. The plain methods are synchronous, cheap and thread-safe, so sync and async
capabilities call them the same way (``ctx.log("...")``, never awaited). The
step context's core services (``notify``, ``evaluate_gate``, ``check_target``,
``run_command``, ``deploy``) are coroutines: a step that uses them has an ``async def run``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol, runtime_checkable

__all__ = ["GateContext", "StepContext", "TargetContext"]


@runtime_checkable
class StepContext(Protocol):
    """The context of one run of a workflow step (``StepType.run``)."""

    tenant_id: str
    """The tenant the run belongs to."""

    run_id: str
    """The workflow run."""

    step_id: str
    """The step's node id in the workflow template."""

    inputs: dict[str, Any]
    """The run's inputs, after expressions were evaluated."""

    def log(self, line: str) -> None:
        """Append one line to the step's log; it is streamed to watchers live.

        Never log secrets: log lines are stored and their hashes go into evidence.
        """
        ...

    def write_artifact(self, name: str, content: bytes, content_type: str = "application/octet-stream") -> None:
        """Store a named blob with the run (a rendered manifest, a report).

        Writing the same ``name`` twice in one step replaces the first.
        """
        ...

    def is_cancelled(self) -> bool:
        """Whether the run was cancelled; a long step checks it and stops.

        Stop by raising :class:`shiplane_sdk.StepCancelled`.
        """
        ...

    def integration(self, name: str) -> dict[str, Any]:
        """The decrypted config of the tenant's integration called ``name``.

        Raises ``KeyError`` if the tenant has no such integration.
        """
        ...

    def secret(self, name: str) -> str:
        """The value of the secret ``name`` available to this run.

        Raises ``KeyError`` if there is none. Never log or return the value.
        """
        ...

    # -- who, and what people decided ----------------------------------------------------------

    requested_by: str
    """The user who started the run (separation of duties: see ``StepWait.allow_self``)."""

    decisions: list[dict[str, Any]]
    """What people decided while this step waited, oldest first: ``{"action", "by",
    "roles", "comment", "at"}`` (``at`` an RFC 3339 time). Empty on the first run."""

    # -- core services (coroutines: call them from ``async def run``) --------------------------

    async def notify(
        self,
        integration: str,
        subject: str,
        body: str,
        *,
        severity: str = "info",
        data: dict[str, Any] | None = None,
    ) -> None:
        """Send a message through the tenant's notification integration called
        ``integration`` (its type's ``notify``, guarded like every plugin call).

        Raises ``KeyError`` if there is no such integration, and
        :class:`~shiplane_sdk.PluginError` if it cannot notify or the delivery failed.
        """
        ...

    async def evaluate_gate(
        self,
        gate: str,
        config: dict[str, Any],
        *,
        release: str | None = None,
        environment: str | None = None,
    ) -> dict[str, Any]:
        """Evaluate the gate type ``gate`` with ``config`` for a release (id) and an
        environment (id or name); each defaults to the run's context. Returns
        ``{"status", "message", "details", "log"}``; a gate that cannot answer fails
        closed (``status="fail"``)."""
        ...

    async def check_target(self, target: str) -> dict[str, Any]:
        """Run the health check of the target ``target`` (id or name) now, on its agent,
        and wait for it: ``{"targetId", "status", "health", "taskId"}`` where ``status``
        is the target's new health status (``healthy``, ``degraded``, ``unhealthy``,
        ``unreachable``). Raises ``KeyError`` for an unknown target,
        :class:`~shiplane_sdk.PluginError` when no agent can run the check."""
        ...

    async def run_command(
        self,
        command: str | list[str],
        *,
        agent: str | None = None,
        agent_labels: dict[str, str] | None = None,
        env: dict[str, str] | None = None,
        timeout_seconds: float = 600,
        working_directory: str | None = None,
        secret_env: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Run ``command`` (argv list, or a string for ``/bin/sh -c``) on an agent: the one
        named ``agent``, else an online one with ``agent_labels``, else the local agent.
        Waits for it: ``{"agentId", "taskId", "exitCode", "output", "truncated",
        "timedOut", "durationSeconds"}``; the output lines are logged to the step.
        Cancelling the run stops the command. ``secret_env`` is added to ``env``, and the
        agent replaces its values with ``***`` in the output and log lines it reports (so
        they are stored nowhere). Raises ``KeyError`` when no such agent
        exists, :class:`~shiplane_sdk.PluginError` when the agent refuses."""
        ...

    async def deploy(
        self, strategy: str = "all-at-once", strategy_config: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Deploy the run's release (``context.releaseId``) to its environment
        (``context.environmentId``): a deployment job whose rollout strategy plans batches
        of the environment's targets, each target's task run by its agent. Waits for it:
        ``{"jobId", "state" (succeeded, failed, partially_applied, cancelled), "message",
        "tasks": {state: count}}``. Raises :class:`~shiplane_sdk.PluginError` when the
        run has no release or environment in its context, or the strategy cannot plan."""
        ...


@runtime_checkable
class GateContext(Protocol):
    """What a gate judges (``Gate.evaluate``).

    ``release``, ``environment`` and ``promotion`` are the resources as the API
    returns them (camelCase keys, e.g. ``release["components"]``).
    """

    tenant_id: str
    """The tenant of the promotion."""

    release: dict[str, Any]
    """The release being promoted, with its components, versions and digests."""

    environment: dict[str, Any]
    """The environment it is promoted to."""

    promotion: dict[str, Any] | None
    """The promotion, or ``None`` for a preview (``POST /promotions/preview-gates``)."""

    now: datetime
    """The evaluation time (timezone-aware UTC); use it instead of the clock."""

    def log(self, line: str) -> None:
        """Record one line of explanation with the gate's evaluation."""
        ...


@runtime_checkable
class TargetContext(Protocol):
    """The context of a target-type call; it runs on the agent that owns the target."""

    tenant_id: str
    """The tenant owning the target."""

    target: dict[str, Any]
    """The target: ``id``, ``name``, ``labels`` and ``config`` (the target type's
    config, already validated against its schema, secrets decrypted)."""

    def log(self, line: str) -> None:
        """Append one line to the task's log (streamed to the server)."""
        ...

    def is_cancelled(self) -> bool:
        """Whether the deployment was cancelled; a long deploy checks it."""
        ...
