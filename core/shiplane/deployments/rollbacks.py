"""Rollbacks (``POST /rollbacks``): an environment back to an earlier release, through the
same machinery as a deployment (a workflow run whose ``deploy`` step runs the rollback
job), without the gates and approvals a forward promotion needs."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StringConstraints, model_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shiplane.deployments.models import DeploymentJob
from shiplane.deployments.service import job_out
from shiplane.deployments.states import allow
from shiplane.engine.queue import WorkQueue
from shiplane.environments.models import Environment
from shiplane.environments.service import require_protected
from shiplane.platform.database import new_id
from shiplane.platform.errors import ApiError, validation_error
from shiplane.platform.idempotency import WriteResult
from shiplane.platform.schemas import ApiModel
from shiplane.platform.writes import audit_change
from shiplane.plugins.service import PluginService
from shiplane.releases.models import Release

Id = Annotated[str, StringConstraints(min_length=1, max_length=36)]


#: How many of an environment's past deployments the default rollback target is looked for in.
ROLLBACK_HISTORY = 500


class RollbackCreate(ApiModel):
    environment_id: Id | None = Field(default=None, description="Roll this environment back (or give jobId)")
    job_id: Id | None = Field(
        default=None, description="Undo this deployment job: its environment goes back to the release it had before"
    )
    release_id: Id | None = Field(
        default=None, description="The release to go back to; default: the previous successful release there"
    )
    reason: Annotated[str, StringConstraints(min_length=1, max_length=2000)]

    @model_validator(mode="after")
    def _one_subject(self) -> RollbackCreate:
        if (self.environment_id is None) == (self.job_id is None):
            raise ValueError("give environmentId or jobId, exactly one")
        return self


async def previous_release(session: AsyncSession, env: Environment) -> str | None:
    """The release there before the current one: the newest release (other than the
    current) whose latest deployment there succeeded. A release whose latest deployment
    there was rolled back (its checks failed, or someone rolled it back) is skipped."""
    latest: dict[str, str] = {}
    rows = await session.execute(
        select(DeploymentJob.release_id, DeploymentJob.state)
        .where(DeploymentJob.environment_id == env.id, DeploymentJob.state.in_(("succeeded", "rolled_back")))
        .order_by(DeploymentJob.created_at.desc(), DeploymentJob.id.desc())
        .limit(ROLLBACK_HISTORY)
    )
    for release_id, state in rows:
        if release_id in latest:
            continue
        latest[release_id] = state
        if state == "succeeded" and release_id != env.current_release_id:
            return str(release_id)
    return None


class RollbackService:
    def __init__(self, plugins: PluginService, queue: WorkQueue) -> None:
        self.plugins = plugins
        self.queue = queue

    @property
    def session(self) -> AsyncSession:
        return self.plugins.session

    async def create(self, body: RollbackCreate) -> WriteResult:
        from shiplane.promotions.service import default_template
        from shiplane.workflows.service import WorkflowService

        session, principal = self.session, self.plugins.principal
        target_release = body.release_id
        replacing: str | None = None  # the release the rollback takes away
        if body.job_id is not None:
            undone = await session.scalar(select(DeploymentJob).where(DeploymentJob.id == body.job_id))
            if undone is None:
                raise validation_error("jobId", f"no deployment job {body.job_id!r}", "unknown")
            allow(undone.state, "rollback")
            newer = await session.scalar(
                select(DeploymentJob.id)
                .where(
                    DeploymentJob.environment_id == undone.environment_id,
                    DeploymentJob.created_at > undone.created_at,
                    DeploymentJob.state.in_(("succeeded", "partially_applied")),
                )
                .limit(1)
            )
            if newer is not None:
                raise ApiError(
                    "INVALID_STATE",
                    f"deployment job {undone.id} is not the environment's latest: {newer} changed it since;"
                    " roll the environment back instead",
                    {"state": undone.state, "action": "rollback", "newerJobId": newer},
                )
            environment_id = undone.environment_id
            target_release = target_release or undone.previous_release_id
            replacing = undone.release_id
        else:
            environment_id = str(body.environment_id)
        env = await session.scalar(select(Environment).where(Environment.id == environment_id))
        if env is None:
            raise validation_error("environmentId", f"no environment {environment_id!r}", "unknown")
        require_protected(env, principal, "rollback")
        target_release = target_release or await previous_release(session, env)
        if target_release is None:
            raise ApiError(
                "INVALID_STATE",
                f"environment {env.name!r} has no earlier successful release to roll back to",
                {"environmentId": env.id, "currentReleaseId": env.current_release_id},
            )
        release = await session.scalar(select(Release).where(Release.id == target_release))
        if release is None:
            raise validation_error("releaseId", f"no release {target_release!r}", "unknown")
        if release.state == "deprecated":
            raise ApiError(
                "RELEASE_DEPRECATED",
                f"release {release.name!r} is deprecated: it is not deployed anywhere again",
                {"releaseId": release.id, "reason": release.deprecation_reason},
            )
        if release.state != "ready":
            raise ApiError("INVALID_STATE", f"release {release.name!r} is a draft", {"state": release.state})
        busy = await session.scalar(
            select(DeploymentJob.id).where(
                DeploymentJob.environment_id == env.id, DeploymentJob.state.in_(("pending", "running"))
            )
        )
        if busy is not None:
            raise ApiError(
                "INVALID_STATE",
                f"a deployment to {env.name!r} is under way ({busy}): roll back when it has ended",
                {"deploymentJobId": busy},
            )
        job = DeploymentJob(
            id=new_id(),
            tenant_id=principal.tenant_id,
            kind="rollback",
            release_id=release.id,
            environment_id=env.id,
            previous_release_id=replacing or env.current_release_id,
            strategy="all-at-once",
            strategy_config={},
            state="pending",
            reason=body.reason,
            message="waiting for its workflow run",
            manifest={},
            created_by=principal.user_id,
        )
        session.add(job)
        await session.flush()
        workflows = WorkflowService(self.plugins, self.queue)
        run = await workflows.create_run(
            await default_template(workflows),
            None,
            {},
            {"kind": "rollback", "jobId": job.id, "releaseId": release.id, "environmentId": env.id},
        )
        job.workflow_run_id = str(run.data["id"])
        await session.flush()
        data = job_out(job)
        await audit_change(session, principal, "rollback.create", "deployment_job", job.id, None, data)
        return WriteResult(data, 201, {"Location": f"/api/v1/deployment-jobs/{job.id}"})


def rollback_out(row: Any) -> dict[str, Any]:
    return job_out(row)
