"""A/B release bodies and how they are shown."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, HttpUrl, StringConstraints, model_validator

from shiplane.platform.envelope import rfc3339
from shiplane.platform.schemas import ApiModel, Integral

Id = Annotated[str, StringConstraints(min_length=1, max_length=36)]
Status = Annotated[int, Field(ge=100, le=599), Integral]
LabelKey = Annotated[str, StringConstraints(min_length=1, max_length=63, pattern=r"^[A-Za-z0-9][A-Za-z0-9_./-]*$")]
LabelValue = Annotated[str, StringConstraints(max_length=63)]
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
    candidate_target_labels: Annotated[dict[LabelKey, LabelValue], Field(min_length=1, max_length=10)] | None = Field(
        default=None,
        description="start deploys the candidate to the environment's targets with all these labels first",
    )
    analysis: Analysis = Field(default_factory=Analysis)


class ABRollback(ApiModel):
    reason: Annotated[str, StringConstraints(max_length=2000)] = ""


Verdict = Literal["pass", "fail", "inconclusive"]


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
