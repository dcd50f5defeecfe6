"""A/B release bodies and how they are shown."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, HttpUrl, StringConstraints, model_validator

from shiplane.platform.envelope import rfc3339
from shiplane.platform.schemas import ApiModel, ApiOut, Integral, LabelKey, LabelValue

Id = Annotated[str, StringConstraints(min_length=1, max_length=36)]
Status = Annotated[int, Field(ge=100, le=599), Integral]
CheckName = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]


class Probe(ApiModel):
    """An HTTP check: the analysis fallback when no monitoring integration is used."""

    name: CheckName
    url: HttpUrl = Field(description="GET this URL (http or https)")
    expect_status: Annotated[
        list[Annotated[int, Field(ge=100, le=599), Integral]], Field(min_length=1, max_length=20)
    ] = Field(default_factory=lambda: [200], description="Statuses that pass")
    timeout_seconds: Annotated[float, Field(gt=0, le=30)] = 5.0
    side: Literal["control", "candidate"] = Field(default="candidate", description="Whose health this check is")

    @model_validator(mode="after")
    def _http(self) -> Probe:
        if self.url.scheme not in ("http", "https") or len(str(self.url)) > 2000:
            raise ValueError("url must be an http(s) URL of at most 2000 characters")
        return self


class MetricCheck(ApiModel):
    """A metric query through a monitoring integration, against a threshold: the value
    (the first series' latest point) must be within [min, max]."""

    name: CheckName
    integration_id: Id
    query: Annotated[str, StringConstraints(min_length=1, max_length=4000)]
    min: float | None = Field(default=None, allow_inf_nan=False)
    max: float | None = Field(default=None, allow_inf_nan=False)
    side: Literal["control", "candidate"] = Field(default="candidate", description="Whose health this check is")

    @model_validator(mode="after")
    def _bounded(self) -> MetricCheck:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        return self


class Analysis(ApiModel):
    interval_seconds: Annotated[float, Field(ge=1, le=3600)] = Field(default=30.0, description="Seconds between checks")
    failure_limit: Annotated[int, Field(ge=0, le=100), Integral] = Field(
        default=0, description="Failing measurements a step tolerates: one more rolls back"
    )
    consecutive_failure_limit: Annotated[int, Field(ge=1, le=100), Integral] | None = Field(
        default=None, description="Roll back as soon as this many checks in a row fail"
    )
    inconclusive_limit: Annotated[int, Field(ge=0, le=100), Integral] = Field(
        default=0, description="Inconclusive measurements a step tolerates: one more pauses for a person"
    )
    probes: Annotated[list[Probe], Field(max_length=10)] = Field(default_factory=list)
    metrics: Annotated[list[MetricCheck], Field(max_length=10)] = Field(default_factory=list)


class ABReleaseCreate(ApiModel):
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    environment_id: Id
    control_release_id: Id = Field(description="A: the release serving now")
    candidate_release_id: Id = Field(description="B: the release to try")
    strategy: Annotated[str, StringConstraints(min_length=1, max_length=64)] = "canary"
    strategy_config: dict[str, Any] = Field(
        default_factory=dict, description="The strategy's config (its steps: [{weight, pauseSeconds, manual}])"
    )
    router_instance_id: Id = Field(description="A plugin instance of a traffic router (nginx, haproxy, ...)")
    # The targets' own label syntax (platform.schemas.Labels); no other key is accepted.
    candidate_target_labels: (
        Annotated[
            dict[LabelKey, LabelValue],
            Field(min_length=1, max_length=10, json_schema_extra={"additionalProperties": False}),
        ]
        | None
    ) = Field(
        default=None,
        description="start deploys the candidate to the environment's targets with all these labels first",
    )
    analysis: Analysis = Field(default_factory=Analysis)


class ABRollback(ApiModel):
    reason: Annotated[str, StringConstraints(max_length=2000)] = ""


Verdict = Literal["pass", "fail", "inconclusive"]
ABState = Literal["draft", "deploying", "running", "paused", "promoted", "rolled_back", "aborted"]
Side = Literal["control", "candidate"]


class ABStepOut(ApiOut):
    weight: int = Field(description="Percent of the traffic sent to the candidate")
    pause_seconds: int | None = Field(description="How long the step lasts at least (null: no timed pause)")
    manual: bool = Field(description="The step waits for a person's advance")


class ABWeightsOut(ApiOut):
    control: int = Field(description="Percent of the traffic to the control release (A)")
    candidate: int = Field(description="Percent of the traffic to the candidate release (B)")


class ABProbeOut(ApiOut):
    name: str
    url: str
    expect_status: list[int]
    timeout_seconds: float
    side: Side


class ABMetricCheckOut(ApiOut):
    name: str
    integration_id: str
    query: str
    min: float | None
    max: float | None
    side: Side


class ABAnalysisOut(ApiOut):
    interval_seconds: float
    failure_limit: int
    consecutive_failure_limit: int | None
    inconclusive_limit: int
    probes: list[ABProbeOut]
    metrics: list[ABMetricCheckOut]


class ABReleaseOut(ApiOut):
    id: str
    tenant_id: str
    name: str
    environment_id: str
    control_release_id: str
    candidate_release_id: str
    strategy: str
    strategy_config: dict[str, Any]
    steps: list[ABStepOut] = Field(description="The strategy's steps, as planned at creation")
    router_instance_id: str
    candidate_target_labels: dict[str, str] | None
    deployment_job_id: str | None = Field(description="The candidate's deployment job (with candidateTargetLabels)")
    analysis: ABAnalysisOut
    state: ABState
    current_step: int | None = Field(description="0-based index into steps (null before start)")
    step_started_at: datetime | None
    weights: ABWeightsOut | None = Field(description="The desired weights (null before start)")
    applied_weights: ABWeightsOut | None = Field(description="The weights the traffic router last accepted")
    router_error: str | None = Field(description="Why the traffic router refused the desired weights last time")
    failures: int = Field(description="Failing measurements in the current step")
    message: str
    created_by: str
    started_at: datetime | None
    finished_at: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime


def _when(value: Any) -> str | None:
    return rfc3339(value) if value is not None else None


def ab_out(row: Any) -> dict[str, Any]:
    steps = list(row.steps or [])
    return {
        "id": row.id,
        "tenantId": row.tenant_id,
        "name": row.name,
        "environmentId": row.environment_id,
        "controlReleaseId": row.control_release_id,
        "candidateReleaseId": row.candidate_release_id,
        "strategy": row.strategy,
        "strategyConfig": row.strategy_config,
        "steps": steps,
        "routerInstanceId": row.router_instance_id,
        "candidateTargetLabels": row.candidate_target_labels,
        "deploymentJobId": row.deployment_job_id,
        "analysis": row.analysis,
        "state": row.state,
        "currentStep": row.step_index if row.step_index >= 0 else None,
        "stepStartedAt": _when(row.step_started_at),
        "weights": row.weights or None,
        "appliedWeights": row.applied_weights,
        "routerError": row.apply_error or None,
        "failures": row.failures,
        "message": row.message,
        "createdBy": row.created_by,
        "startedAt": _when(row.started_at),
        "finishedAt": _when(row.finished_at),
        "version": row.version,
        "createdAt": rfc3339(row.created_at),
        "updatedAt": rfc3339(row.updated_at),
    }


class ABMeasurementOut(ApiOut):
    id: int
    step: int = Field(description="0-based index of the step it was measured in")
    kind: Literal["probe", "metric"]
    name: str
    query: str = Field(description="The probe's URL or the metric query")
    values: list[Any]
    threshold: dict[str, Any] = Field(description="A probe's expectStatus, or a metric's min and max")
    verdict: Verdict
    message: str
    at: datetime


def measurement_out(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "step": row.step,
        "kind": row.kind,
        "name": row.name,
        "query": row.query,
        "values": row.values,
        "threshold": row.threshold,
        "verdict": row.verdict,
        "message": row.message,
        "at": rfc3339(row.at),
    }


class ABRouterRefOut(ApiOut):
    instance_id: str
    type: str | None = Field(description="The traffic router's capability id (null: its instance is gone or unusable)")


class ABTrafficOut(ApiOut):
    ab_release_id: str
    state: ABState
    current_step: int | None
    router: ABRouterRefOut
    weights: dict[str, int] | None = Field(description="As read back from the router now (null: it could not be read)")
    desired: ABWeightsOut | None
    in_sync: bool | None = Field(description="Whether the router holds the desired weights (null: unknown)")
    error: str | None = Field(description="Why the weights could not be read")


class ABSideHealthOut(ApiOut):
    status: Literal["unknown", "healthy", "degraded", "unhealthy"]
    checks: dict[str, Verdict] = Field(description="Each of the side's checks by name: its latest verdict")


class ABSidesHealthOut(ApiOut):
    control: ABSideHealthOut
    candidate: ABSideHealthOut


class ABHealthOut(ApiOut):
    ab_release_id: str
    state: ABState
    current_step: int | None
    failures: int
    message: str
    sides: ABSidesHealthOut
    measurements: list[ABMeasurementOut] = Field(description="The newest 500, oldest first")
