"""Data exchanged between the core and plugins (pydantic 2 models).

Fields are snake_case in Python. Every model also accepts and dumps camelCase
aliases (``model_dump(by_alias=True)``), which is how the API shows them.
Unknown fields are rejected, so a misspelled field name fails loudly.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from shiplane_sdk._version import __version__

__all__ = [
    "Batch",
    "ConfigError",
    "ConnectionTestResult",
    "DeployResult",
    "DiscoveredItem",
    "Event",
    "GateResult",
    "GateStatus",
    "HealthReport",
    "HealthStatus",
    "NotificationMessage",
    "PluginInfo",
    "Severity",
    "StepResult",
    "StepStatus",
    "StepWait",
    "TargetRef",
    "TrafficStep",
    "VersionInfo",
]

HealthStatus = Literal["ok", "degraded", "failing"]
GateStatus = Literal["pass", "fail", "pending", "warn"]
StepStatus = Literal["succeeded", "failed", "waiting"]
DecisionAction = Literal["approve", "reject", "continue", "abort"]
Severity = Literal["info", "warning", "error", "critical"]


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
    )


# ---------------------------------------------------------------------------
# Plugin metadata and health
# ---------------------------------------------------------------------------


class PluginInfo(_Model):
    """What a plugin says about itself (returned by the ``plugin_info`` hook).

    The plugin id is not here: it is the entry-point name the plugin is
    installed under.
    """

    name: str = Field(min_length=1, description="Human-readable plugin name.")
    version: str = Field(min_length=1, description="The plugin's own version.")
    vendor: str = Field("", description="Who publishes and supports the plugin.")
    description: str = Field("", description="One or two sentences on what it adds.")
    homepage: str | None = Field(None, description="Documentation or project URL.")
    sdk_requires: str = Field(
        ">=0.1,<1",
        description=(
            "PEP 440 specifier set of the shiplane-sdk versions the plugin works "
            "with. The core refuses to load a plugin whose range excludes the "
            "installed SDK, and shows why."
        ),
    )

    @field_validator("sdk_requires")
    @classmethod
    def _check_specifier(cls, value: str) -> str:
        try:
            SpecifierSet(value)
        except InvalidSpecifier as exc:
            raise ValueError(f"not a PEP 440 specifier set: {value!r}") from exc
        return value

    def supports_sdk(self, sdk_version: str = __version__) -> bool:
        """Whether ``sdk_requires`` admits ``sdk_version`` (default: this SDK).

        Pre-releases count as matching, so a plugin is not refused by an SDK
        release candidate its range otherwise covers.
        """
        try:
            version = Version(sdk_version)
        except InvalidVersion:
            return False
        return SpecifierSet(self.sdk_requires).contains(version, prereleases=True)


class HealthReport(_Model):
    """The health of a plugin, an integration or a target.

    ``ok``: working. ``degraded``: working with reduced function or speed.
    ``failing``: not working. ``details`` is JSON-serialisable context (latency,
    versions seen, the failing check); never put secrets in it.
    """

    status: HealthStatus
    message: str = ""
    details: dict[str, Any] = Field(default_factory=dict)


# ---------------------------------------------------------------------------
# Events
# ---------------------------------------------------------------------------


class Event(_Model):
    """A domain event, delivered to ``on_event`` after its transaction commits.

    ``type`` is ``<resource>.<past tense>`` from the server's catalogue
    (``environment.created``, ``plugin.enabled``, ...; see the server's
    docs/events.md), and ``data["schemaVersion"]`` the version of its payload.
    Delivery is at least once: deduplicate on ``id`` if a repeat matters.
    """

    model_config = ConfigDict(frozen=True)

    id: str
    type: str
    tenant_id: str
    occurred_at: datetime
    resource_type: str
    resource_id: str
    data: dict[str, Any] = Field(default_factory=dict)


# ---------------------------------------------------------------------------
# Configuration validation
# ---------------------------------------------------------------------------


class ConfigError(_Model):
    """One violation of a capability's ``config_schema``.

    ``field`` is a dotted path into the config (``auth.token``, ``items.0.name``);
    for a missing required property it names that property; ``""`` means the
    config as a whole. ``code`` is the JSON Schema keyword that failed
    (``required``, ``type``, ``minimum``, ``additionalProperties``, ...). Shaped
    like the API's ``validationErrors[]`` entries.
    """

    field: str
    message: str
    code: str


# ---------------------------------------------------------------------------
# Results of capability calls
# ---------------------------------------------------------------------------


class GateResult(_Model):
    """The verdict of a gate.

    ``pass`` lets the promotion go on, ``fail`` blocks it, ``pending`` blocks it
    for now and asks for re-evaluation later (a freeze window that will end, a
    check still running), ``warn`` lets it go on with the message shown. Gates
    are explainable: ``details`` carries the inputs the gate judged (the values
    it compared and the thresholds), and is stored in the evidence packet.
    """

    status: GateStatus
    message: str = ""
    details: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def passed(cls, message: str = "", details: dict[str, Any] | None = None) -> GateResult:
        """A ``pass`` result."""
        return cls(status="pass", message=message, details=dict(details or {}))

    @classmethod
    def failed(cls, message: str, details: dict[str, Any] | None = None) -> GateResult:
        """A ``fail`` result; ``message`` says why the promotion is blocked."""
        return cls(status="fail", message=message, details=dict(details or {}))

    @classmethod
    def pending(cls, message: str, details: dict[str, Any] | None = None) -> GateResult:
        """A ``pending`` result; ``message`` says what the gate waits for."""
        return cls(status="pending", message=message, details=dict(details or {}))

    @classmethod
    def warn(cls, message: str, details: dict[str, Any] | None = None) -> GateResult:
        """A ``warn`` result: not blocking, but ``message`` is shown."""
        return cls(status="warn", message=message, details=dict(details or {}))


class StepResult(_Model):
    """The outcome of one workflow step.

    ``outputs`` are what later steps read as ``${{ steps.<id>.outputs.<key> }}``;
    keep them small and JSON-serialisable (put large data in artifacts).
    """

    status: StepStatus
    outputs: dict[str, Any] = Field(default_factory=dict)
    message: str = ""
    wait: StepWait | None = None
    """With ``status="waiting"``: what people must decide before the step goes on."""

    @model_validator(mode="after")
    def _wait_matches_status(self) -> StepResult:
        if (self.status == "waiting") != (self.wait is not None):
            raise ValueError("a waiting StepResult carries `wait`, and only a waiting one does")
        return self


class StepWait(_Model):
    """A step that waits for people (``StepResult(status="waiting", wait=StepWait(...))``).

    The run keeps running while the step waits; the people allowed decide through
    ``POST /workflow-runs/{id}/steps/{nodeId}/decision`` with one of ``actions``
    (permission ``workflows:approve``). After each decision the step runs again with
    every decision so far in ``ctx.decisions`` and returns its outcome, or waits again.
    """

    actions: list[DecisionAction] = Field(min_length=1, max_length=4)
    """The decisions offered, e.g. ``["approve", "reject"]`` or ``["continue", "abort"]``."""
    kind: str = Field(default="manual", max_length=64)
    """A label for the console and the stream (``approval``, ``manual``)."""
    instructions: str = Field(default="", max_length=20_000)
    """What the people deciding should know or do first."""
    roles: list[str] = Field(default_factory=list, max_length=50)
    """If not empty, only members of one of these roles may decide."""
    users: list[str] = Field(default_factory=list, max_length=200)
    """If not empty, these users may decide too (with ``roles`` empty: only they)."""
    allow_self: bool = False
    """Whether the person who started the run may decide (off: separation of duties)."""


StepResult.model_rebuild()


class ConnectionTestResult(_Model):
    """The result of testing an integration's configuration.

    A failed check is a normal result (``ok=False`` with a message saying what
    failed), not an exception. The core measures the latency itself.
    """

    ok: bool
    message: str = ""
    details: dict[str, Any] = Field(default_factory=dict)


class DiscoveredItem(_Model):
    """Something an integration offers to build components from.

    ``kind`` is what it is (``repository``, ``image``, ``project``), ``reference``
    is what the integration needs to find it again (for example the image
    repository ``team/api``), and is what ``list_versions`` takes.
    """

    kind: str
    reference: str
    name: str
    metadata: dict[str, Any] = Field(default_factory=dict)


class VersionInfo(_Model):
    """One version of a component, as found in a registry or SCM.

    ``tag`` is the human version (``1.4.2``, ``v1.4.2``, a commit-ish);
    ``digest`` the immutable content address when known (``sha256:...``, a
    commit SHA). Releases can only be sealed with digests.
    """

    tag: str
    digest: str | None = None
    created_at: datetime | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class NotificationMessage(_Model):
    """A message for a notification integration (``IntegrationType.notify``).

    ``body`` is plain text; ``data`` carries the structured facts (release,
    environment, links) for integrations that render richer messages.
    """

    subject: str
    body: str
    severity: Severity = "info"
    data: dict[str, Any] = Field(default_factory=dict)


class AuditRecord(_Model):
    """One audit event as a SIEM sink receives it (``IntegrationType.send_audit``).

    ``sequence`` numbers the tenant's events from 1 without gaps; ``hash`` is the chain
    hash of this event and ``prev_hash`` the previous one's, so a receiver can check
    that nothing was removed or changed: ``hash == sha256_hex(prev_hash + canonical)``
    where ``canonical`` is the exact JSON text that was hashed (the other fields repeat
    its content). Secrets are already masked in ``changes``.
    """

    id: str
    tenant_id: str
    sequence: int = Field(ge=1)
    occurred_at: datetime
    actor_type: str
    actor_id: str
    action: str
    resource_type: str
    resource_id: str | None = None
    outcome: str
    request_id: str | None = None
    changes: dict[str, Any] | None = None
    prev_hash: str
    hash: str
    canonical: str


class MetricQuery(_Model):
    """A metric query for a monitoring integration (``IntegrationType.query_metrics``).

    An instant query at ``time`` (``None``: now) unless ``start``, ``end`` and
    ``step_seconds`` are all given (a range query). ``query`` is in the system's own
    language (PromQL for Prometheus); the tenant wrote it, so it is bounded here.
    """

    query: str = Field(min_length=1, max_length=4000)
    time: datetime | None = None
    start: datetime | None = None
    end: datetime | None = None
    step_seconds: float | None = Field(default=None, gt=0, le=86_400)

    @property
    def is_range(self) -> bool:
        return self.start is not None and self.end is not None and self.step_seconds is not None


class MetricPoint(_Model):
    """One sample: when, and the value (``None`` for NaN or a missing value)."""

    at: datetime
    value: float | None


class MetricSeries(_Model):
    """One series of a query's answer: its labels and its samples, oldest first
    (one sample for an instant query)."""

    labels: dict[str, str] = Field(default_factory=dict)
    points: list[MetricPoint] = Field(default_factory=list)


class MetricResult(_Model):
    """A metric query's answer: every series it returned (none: no data)."""

    series: list[MetricSeries] = Field(default_factory=list)


# ---------------------------------------------------------------------------
# Rollouts and traffic
# ---------------------------------------------------------------------------


class TargetRef(_Model):
    """A deployment target as a rollout strategy sees it."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    labels: dict[str, str] = Field(default_factory=dict)


class Batch(_Model):
    """One batch of a rollout plan: targets deployed together.

    Batches run in ``index`` order (0, 1, 2, ...); the next one starts when the
    previous one succeeded.
    """

    index: int = Field(ge=0)
    targets: list[TargetRef]


class TrafficStep(_Model):
    """One step of a progressive rollout: send ``weight`` percent to the candidate.

    After the weight is applied the rollout waits ``pause_seconds`` (``None``:
    no timed pause) or, if ``manual``, until someone calls ``advance``.
    ``analysis`` optionally names the checks to run during the step (HTTP probes
    and metric queries with thresholds), in the A/B release's analysis format.
    """

    weight: int = Field(ge=0, le=100)
    pause_seconds: int | None = Field(None, ge=0)
    manual: bool = False
    analysis: dict[str, Any] | None = None


class DeployResult(_Model):
    """The outcome of deploying a manifest to one target.

    ``outputs`` is JSON-serialisable information about what was done (for
    example the container id); it is stored with the task.
    """

    ok: bool
    message: str = ""
    outputs: dict[str, Any] = Field(default_factory=dict)
