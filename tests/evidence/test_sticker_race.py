"""Two jobs finishing on one target at the same moment leave one ``current`` sticker:
the second transaction waits on the target's lock, then replaces the first's."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from shiplane.evidence.service import lock_sticker_targets, record_sticker
from shiplane.platform.database import Database
from shiplane.platform.settings import Settings

from tests.api.targets.test_targets import agent, environment, target_body
from tests.conftest import Caller, run_sql


def test_two_jobs_finishing_on_one_target_at_once_leave_one_current_sticker(
    admin: Caller, settings: Settings, database_url: str
) -> None:
    env_id = environment(admin)
    made = admin.post("/api/v1/targets", json=target_body(env_id, agentId=agent(admin)))
    assert made.status_code == 201, made.text
    target_id = made.json()["data"]["id"]

    async def finish(db: Database, job: str, hold: float, start_after: float) -> None:
        await asyncio.sleep(start_after)
        row = SimpleNamespace(id=job, tenant_id=admin.tenant_id, environment_id=env_id, release_id="r", created_by="u")
        async with db.session(admin.tenant_id, write=True) as session:
            await lock_sticker_targets(session, [target_id])
            await record_sticker(session, row, target_id, "web-1", {"release": {"manifestDigest": job}})
            await session.flush()
            await asyncio.sleep(hold)  # the first holds its transaction open while the second arrives

    async def race() -> None:
        db = Database(settings.effective_database_url)
        try:
            await asyncio.gather(finish(db, "job-a", 0.5, 0.0), finish(db, "job-b", 0.0, 0.1))
        finally:
            await db.dispose()

    asyncio.run(race())
    rows = run_sql(
        database_url,
        "SELECT deployment_job_id, current FROM version_stickers WHERE target_id = :t ORDER BY deployed_at",
        {"t": target_id},
    )
    assert [(r[0], bool(r[1])) for r in rows] == [("job-a", False), ("job-b", True)]
