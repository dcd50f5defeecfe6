"""What a gate judges: the release and the environment as the API shows them, with what
gates need besides (each component version's metadata, the environments the release
succeeded in, the freeze windows and their state now). Read in one session."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from shiplane.components.models import ComponentVersion
from shiplane.environments.freeze import MAX_WINDOWS_PER_ENVIRONMENT, states_at
from shiplane.environments.models import Environment, FreezeWindow
from shiplane.environments.schemas import environment_out, freeze_window_out
from shiplane.platform.database import utcnow
from shiplane.releases.models import Release
from shiplane.releases.schemas import release_out


async def release_for_gates(session: AsyncSession, release: Release) -> dict[str, Any]:
    from shiplane.promotions.models import Promotion

    data = release_out(release)
    pairs = [(c.get("componentId"), c.get("version")) for c in release.components or []]
    metadata: dict[tuple[Any, Any], Any] = {}
    if pairs:
        rows = await session.execute(
            select(ComponentVersion.component_id, ComponentVersion.tag, ComponentVersion.meta).where(
                ComponentVersion.component_id.in_({p[0] for p in pairs})
            )
        )
        metadata = {(r[0], r[1]): r[2] for r in rows if (r[0], r[1]) in set(pairs)}
    data["components"] = [
        {**c, "metadata": metadata.get((c.get("componentId"), c.get("version")), {})} for c in data["components"]
    ]
    succeeded = await session.scalars(
        select(Promotion.environment_id)
        .where(Promotion.release_id == release.id, Promotion.state == "succeeded")
        .distinct()
    )
    data["succeededEnvironmentIds"] = sorted(succeeded)
    return data


async def environment_for_gates(session: AsyncSession, env: Environment) -> dict[str, Any]:
    data = environment_out(env)
    if env.required_predecessors is None:
        # The default: the environment just before this one in the pipeline.
        before = await session.scalar(
            select(Environment.id)
            .where(Environment.position < env.position)
            .order_by(Environment.position.desc(), Environment.id.desc())
            .limit(1)
        )
        data["requiredPredecessors"] = [before] if before else []
    windows = list(
        await session.scalars(
            select(FreezeWindow)
            .where(FreezeWindow.environment_id == env.id)
            .order_by(FreezeWindow.created_at, FreezeWindow.id)
            .limit(MAX_WINDOWS_PER_ENVIRONMENT)
        )
    )
    states = await asyncio.to_thread(states_at, windows, utcnow())
    data["freezeWindows"] = [freeze_window_out(w, s) for w, s in zip(windows, states, strict=True)]
    return data


async def find_release(session: AsyncSession, key: str) -> Release | None:
    return await session.scalar(select(Release).where(or_(Release.id == key, Release.name == key)))


async def find_environment(session: AsyncSession, key: str) -> Environment | None:
    return await session.scalar(select(Environment).where(or_(Environment.id == key, Environment.name == key)))
