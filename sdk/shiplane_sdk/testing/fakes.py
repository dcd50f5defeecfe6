"""In-memory contexts for testing capabilities without a server."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = ["FakeGateContext", "FakeStepContext", "FakeTargetContext", "RecordedArtifact"]


def _sample_release() -> dict[str, Any]:
    return {
        "id": "release-1",
        "name": "release-1",
        "description": "",
        "state": "ready",
        "components": [{"componentId": "component-1", "version": "1.0.0", "digest": "sha256:" + "0" * 64}],
    }


def _sample_environment() -> dict[str, Any]:
    return {"id": "environment-1", "name": "staging", "order": 1, "isProduction": False}


def _sample_target() -> dict[str, Any]:
    return {"id": "target-1", "name": "target-1", "labels": {}, "config": {}}


@dataclass
class RecordedArtifact:
    """An artifact written through :meth:`FakeStepContext.write_artifact`."""

    name: str
    content: bytes
    content_type: str


@dataclass
class FakeStepContext:
    """A :class:`~shiplane_sdk.StepContext` that records what the step does.

    ``logs`` collects logged lines, ``artifacts`` the written artifacts (latest
    write per name wins, as in the server). ``integrations`` and ``secrets``
    answer ``integration(name)`` and ``secret(name)``. Call :meth:`cancel` (or
    set ``cancelled``) to make ``is_cancelled()`` true.
    """

    tenant_id: str = "tenant-1"
    run_id: str = "run-1"
    step_id: str = "step-1"
    inputs: dict[str, Any] = field(default_factory=dict)
    integrations: dict[str, dict[str, Any]] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    cancelled: bool = False
    logs: list[str] = field(default_factory=list)
    artifacts: list[RecordedArtifact] = field(default_factory=list)
    requested_by: str = "user-1"
    decisions: list[dict[str, Any]] = field(default_factory=list)
    notifications: list[dict[str, Any]] = field(default_factory=list)
    """What ``notify`` sent (integration, subject, body, severity, data)."""
    gate_results: dict[str, dict[str, Any]] = field(default_factory=dict)
    """``evaluate_gate`` answers per gate id (default: a pass)."""
    target_health: dict[str, dict[str, Any]] = field(default_factory=dict)
    """``check_target`` answers per target (``KeyError`` for others)."""
    commands: list[dict[str, Any]] = field(default_factory=list)
    """What ``run_command`` was asked to run."""
    command_result: dict[str, Any] = field(
        default_factory=lambda: {"exitCode": 0, "output": "", "truncated": False, "timedOut": False}
    )
    """What ``run_command`` answers."""
    deployments: list[dict[str, Any]] = field(default_factory=list)
    """What ``deploy`` was asked to do."""
    deploy_result: dict[str, Any] = field(
        default_factory=lambda: {"jobId": "job-1", "state": "succeeded", "message": "", "tasks": {}}
    )
    """What ``deploy`` answers."""

    def log(self, line: str) -> None:
        self.logs.append(line)

    def write_artifact(self, name: str, content: bytes, content_type: str = "application/octet-stream") -> None:
        self.artifacts = [a for a in self.artifacts if a.name != name]
        self.artifacts.append(RecordedArtifact(name, bytes(content), content_type))

    def is_cancelled(self) -> bool:
        return self.cancelled

    def cancel(self) -> None:
        """Make ``is_cancelled()`` return ``True`` from now on."""
        self.cancelled = True

    def integration(self, name: str) -> dict[str, Any]:
        try:
            return self.integrations[name]
        except KeyError:
            raise KeyError(f"no integration named {name!r} in this fake context") from None

    def secret(self, name: str) -> str:
        try:
            return self.secrets[name]
        except KeyError:
            raise KeyError(f"no secret named {name!r} in this fake context") from None

    async def notify(
        self,
        integration: str,
        subject: str,
        body: str,
        *,
        severity: str = "info",
        data: dict[str, Any] | None = None,
    ) -> None:
        if integration not in self.integrations:
            raise KeyError(f"no integration named {integration!r} in this fake context")
        self.notifications.append(
            {"integration": integration, "subject": subject, "body": body, "severity": severity, "data": data or {}}
        )

    async def evaluate_gate(
        self, gate: str, config: dict[str, Any], *, release: str | None = None, environment: str | None = None
    ) -> dict[str, Any]:
        return self.gate_results.get(gate, {"status": "pass", "message": "", "details": {}, "log": []})

    async def check_target(self, target: str) -> dict[str, Any]:
        try:
            return self.target_health[target]
        except KeyError:
            raise KeyError(f"no target {target!r} in this fake context") from None

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
        self.commands.append(
            {
                "command": command,
                "agent": agent,
                "agentLabels": agent_labels,
                "env": {**(env or {}), **(secret_env or {})},
                "secretNames": sorted(secret_env or {}),
                "timeoutSeconds": timeout_seconds,
                "workingDirectory": working_directory,
            }
        )
        return dict(self.command_result)

    async def deploy(
        self, strategy: str = "all-at-once", strategy_config: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        self.deployments.append({"strategy": strategy, "strategyConfig": strategy_config or {}})
        return dict(self.deploy_result)

    def artifact(self, name: str) -> RecordedArtifact:
        """The artifact written under ``name`` (``KeyError`` if none)."""
        for artifact in self.artifacts:
            if artifact.name == name:
                return artifact
        raise KeyError(name)


@dataclass
class FakeGateContext:
    """A :class:`~shiplane_sdk.GateContext` with a sample release and environment.

    Pass your own ``release``, ``environment``, ``promotion`` and ``now`` to
    test a rule; ``logs`` collects what the gate logged.
    """

    tenant_id: str = "tenant-1"
    release: dict[str, Any] = field(default_factory=_sample_release)
    environment: dict[str, Any] = field(default_factory=_sample_environment)
    promotion: dict[str, Any] | None = None
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    logs: list[str] = field(default_factory=list)

    def log(self, line: str) -> None:
        self.logs.append(line)


@dataclass
class FakeTargetContext:
    """A :class:`~shiplane_sdk.TargetContext` for one target.

    ``target`` defaults to ``{"id", "name", "labels", "config"}`` with an empty
    config; build one for a given config with :meth:`for_config`. ``logs``
    collects logged lines; :meth:`cancel` sets the cancellation flag.
    """

    tenant_id: str = "tenant-1"
    target: dict[str, Any] = field(default_factory=_sample_target)
    cancelled: bool = False
    logs: list[str] = field(default_factory=list)

    @classmethod
    def for_config(cls, config: dict[str, Any], **kwargs: Any) -> FakeTargetContext:
        """A context whose target has ``config`` (other fields: the sample's)."""
        target = {**_sample_target(), "config": config}
        return cls(target=target, **kwargs)

    def log(self, line: str) -> None:
        self.logs.append(line)

    def is_cancelled(self) -> bool:
        return self.cancelled

    def cancel(self) -> None:
        """Make ``is_cancelled()`` return ``True`` from now on."""
        self.cancelled = True
