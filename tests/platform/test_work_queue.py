"""The durable work queue: leases, fencing, retries, waking, and exactly-once claims under
concurrency (several processes on one database, counted by side effects)."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from shiplane.engine.queue import WorkQueue
from shiplane.platform.database import Database
from sqlalchemy import text

from tests.conftest import run_sql

LEASE = timedelta(seconds=30)


def run(database_url: str, work: Callable[[WorkQueue, Database], Any]) -> Any:
    async def main() -> Any:
        db = Database(database_url)
        queue = WorkQueue(db, owner=f"test-{uuid.uuid4().hex[:6]}")
        try:
            return await work(queue, db)
        finally:
            await queue.close()
            await db.dispose()

    return asyncio.run(main())


async def enqueue(queue: WorkQueue, db: Database, kind: str, count: int = 1, **options: Any) -> list[str]:
    tenant = f"tenant-{uuid.uuid4().hex[:8]}"
    ids = []
    async with db.session(tenant, write=True) as session:
        for index in range(count):
            ids.append(await queue.enqueue(session, kind, {"n": index}, **options))
    return ids


def test_a_claimed_item_is_not_claimed_again_while_its_lease_holds(database_url: str) -> None:
    kind = f"k-{uuid.uuid4().hex[:6]}"

    async def work(queue: WorkQueue, db: Database) -> None:
        [item_id] = await enqueue(queue, db, kind)
        [claim] = await queue.claim([kind], LEASE)
        assert (claim.id, claim.epoch, claim.attempts, claim.payload) == (item_id, 1, 1, {"n": 0})
        assert await queue.claim([kind], LEASE) == []
        assert await queue.renew(item_id, 1, LEASE)
        assert await queue.complete(item_id, 1, {"ok": True})
        assert not await queue.complete(item_id, 1, {"ok": True})  # done once
        assert await queue.claim([kind], LEASE) == []

    run(database_url, work)
    [(state, result)] = run_sql(database_url, f"SELECT state, result FROM work_items WHERE kind = '{kind}'")
    assert state == "done" and "ok" in str(result)


def test_an_expired_lease_is_claimed_again_and_the_old_holder_is_fenced_out(database_url: str) -> None:
    kind = f"k-{uuid.uuid4().hex[:6]}"

    async def work(queue: WorkQueue, db: Database) -> None:
        [item_id] = await enqueue(queue, db, kind)
        [first] = await queue.claim([kind], timedelta(seconds=-1))  # a lease that has already run out
        [second] = await queue.claim([kind], LEASE)
        assert second.id == item_id and second.epoch == first.epoch + 1
        assert queue.counts["lease_expired"] == 1
        assert not await queue.renew(item_id, first.epoch, LEASE)  # stale epoch: refused
        assert not await queue.complete(item_id, first.epoch, {"by": "first"})
        assert not await queue.fail(item_id, first.epoch, "late")
        assert await queue.complete(item_id, second.epoch, {"by": "second"})
        assert queue.counts["stale"] == 3

    run(database_url, work)
    [(result,)] = run_sql(database_url, f"SELECT result FROM work_items WHERE kind = '{kind}'")
    assert "second" in str(result)


def test_a_failed_attempt_is_retried_later_until_attempts_run_out(database_url: str) -> None:
    kind = f"k-{uuid.uuid4().hex[:6]}"

    async def work(queue: WorkQueue, db: Database) -> None:
        [item_id] = await enqueue(queue, db, kind, max_attempts=2)
        [claim] = await queue.claim([kind], LEASE)
        assert await queue.fail(item_id, claim.epoch, "boom", backoff=timedelta(hours=1))
        assert await queue.claim([kind], LEASE) == []  # not due for an hour
        async with db.session(None, write=True) as session:  # an hour passes
            await session.execute(text(f"UPDATE work_items SET run_at = created_at WHERE id = '{item_id}'"))
        [again] = await queue.claim([kind], LEASE)
        assert again.attempts == 2
        assert await queue.fail(item_id, again.epoch, "boom again")

    run(database_url, work)
    [(state, error, attempts)] = run_sql(
        database_url, f"SELECT state, error, attempts FROM work_items WHERE kind = '{kind}'"
    )
    assert (state, error, attempts) == ("failed", "boom again", 2)


def test_an_item_due_later_waits_and_only_the_asked_kinds_are_claimed(database_url: str) -> None:
    kind = f"k-{uuid.uuid4().hex[:6]}"

    async def work(queue: WorkQueue, db: Database) -> None:
        from shiplane.platform.database import utcnow

        await enqueue(queue, db, kind, run_at=utcnow() + timedelta(hours=1))
        await enqueue(queue, db, f"{kind}-other")
        assert await queue.claim([kind], LEASE) == []
        assert {c.kind for c in await queue.claim([kind, f"{kind}-other"], LEASE, limit=5)} == {f"{kind}-other"}
        depth = await queue.depth()
        assert depth[(kind, "queued")] == 1 and depth[(f"{kind}-other", "leased")] == 1

    run(database_url, work)


def test_an_enqueue_wakes_a_waiter_once_it_commits(database_url: str) -> None:
    kind = f"k-{uuid.uuid4().hex[:6]}"

    async def work(queue: WorkQueue, db: Database) -> None:
        waiter = asyncio.create_task(queue.wait(timeout=60))
        await asyncio.sleep(0)
        tenant = f"tenant-{uuid.uuid4().hex[:8]}"
        async with db.session(tenant, write=True) as session:
            await queue.enqueue(session, kind, {})
            await asyncio.sleep(0.05)
            assert not waiter.done()  # not before the commit
        assert await waiter is True
        assert not await queue.wait(timeout=0.01)  # and nothing else arrived

    run(database_url, work)


def test_a_rolled_back_enqueue_leaves_no_work(database_url: str) -> None:
    kind = f"k-{uuid.uuid4().hex[:6]}"

    async def work(queue: WorkQueue, db: Database) -> None:
        with pytest.raises(RuntimeError):
            async with db.session("tenant-x", write=True) as session:
                await queue.enqueue(session, kind, {})
                raise RuntimeError("the change failed")
        assert await queue.claim([kind], LEASE) == []

    run(database_url, work)


@pytest.mark.postgres
def test_a_notify_from_another_process_wakes_a_listener(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's")
    kind = f"k-{uuid.uuid4().hex[:6]}"

    async def work(queue: WorkQueue, db: Database) -> None:
        await queue.listen()
        waiter = asyncio.create_task(queue.wait(timeout=60))
        await asyncio.sleep(0.05)
        # Another process's enqueue: its own engine and queue object, so only NOTIFY can wake us.
        other_db = Database(db.url)
        other = WorkQueue(other_db, owner="other")
        async with other_db.session("tenant-y", write=True) as session:
            await other.enqueue(session, kind, {})
        await other_db.dispose()
        assert await waiter is True

    run(database_url, work)


def _claimer(database_url: str, kind: str, claimers: int, done: Any) -> None:
    """One process: ``claimers`` concurrent claim loops, each recording a side effect per item."""

    async def main() -> None:
        db = Database(database_url)
        queue = WorkQueue(db, owner=f"proc-{os.getpid()}")

        async def loop(index: int) -> None:
            idle = 0
            while idle < 3:
                claims = await queue.claim([kind], LEASE, limit=5)
                if not claims:
                    idle += 1
                    await asyncio.sleep(0.05)
                    continue
                idle = 0
                for claim in claims:
                    async with db.session(None, write=True) as session:
                        await session.execute(
                            text("INSERT INTO queue_side_effects (item_id, owner) VALUES (:i, :o)"),
                            {"i": claim.id, "o": f"{os.getpid()}-{index}"},
                        )
                    assert await queue.complete(claim.id, claim.epoch)

        await asyncio.gather(*(loop(i) for i in range(claimers)))
        await db.dispose()

    asyncio.run(main())
    done.put(os.getpid())


def test_concurrent_claimers_in_several_processes_handle_each_item_once(database_url: str) -> None:
    items = 1000
    kind = f"k-{uuid.uuid4().hex[:6]}"
    run_sql(database_url, "CREATE TABLE IF NOT EXISTS queue_side_effects (item_id VARCHAR(36), owner VARCHAR(64))")

    async def fill(queue: WorkQueue, db: Database) -> None:
        for _ in range(items // 100):
            await enqueue(queue, db, kind, 100)

    run(database_url, fill)
    context = multiprocessing.get_context("spawn")
    done = context.Queue()
    processes = [context.Process(target=_claimer, args=(database_url, kind, 3, done)) for _ in range(3)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=600)
        assert process.exitcode == 0
    rows = run_sql(
        database_url,
        "SELECT w.id, count(s.item_id) FROM work_items w LEFT JOIN queue_side_effects s ON s.item_id = w.id "
        f"WHERE w.kind = '{kind}' GROUP BY w.id",
    )
    assert len(rows) == items
    assert {count for _, count in rows} == {1}, [r for r in rows if r[1] != 1][:5]
    owners = run_sql(
        database_url,
        "SELECT count(DISTINCT owner) FROM queue_side_effects "
        f"WHERE item_id IN (SELECT id FROM work_items WHERE kind = '{kind}')",
    )
    assert owners[0][0] > 1  # the work really was shared
    assert run_sql(database_url, f"SELECT DISTINCT state FROM work_items WHERE kind = '{kind}'") == [("done",)]


def test_finished_items_are_pruned_after_the_retention_and_unfinished_ones_never(database_url: str) -> None:
    kind = f"k-{uuid.uuid4().hex[:6]}"

    async def work(queue: WorkQueue, db: Database) -> None:
        done_id, failed_id, leased_id = await enqueue(queue, db, kind, 3, max_attempts=1)
        claims = {c.id: c for c in await queue.claim([kind], LEASE, limit=3)}
        assert await queue.complete(done_id, claims[done_id].epoch)
        assert await queue.fail(failed_id, claims[failed_id].epoch, "boom")
        [queued_id] = await enqueue(queue, db, kind)
        assert await queue.prune(timedelta(hours=1)) == 0  # all recent: kept
        # A retention that has passed for everything: the finished go, the unfinished stay.
        assert await queue.prune(timedelta(seconds=-5)) >= 2
        async with db.session(None, write=False) as session:
            left = (await session.execute(text(f"SELECT id FROM work_items WHERE kind = '{kind}'"))).all()
        assert sorted(row[0] for row in left) == sorted([queued_id, leased_id])

    run(database_url, work)


def test_an_item_whose_every_lease_expired_ends_failed_not_retried_forever(database_url: str) -> None:
    kind = f"k-{uuid.uuid4().hex[:6]}"

    async def work(queue: WorkQueue, db: Database) -> None:
        [item_id] = await enqueue(queue, db, kind, max_attempts=2)
        assert len(await queue.claim([kind], timedelta(seconds=-1))) == 1  # attempt 1: its holder vanishes
        assert len(await queue.claim([kind], timedelta(seconds=-1))) == 1  # attempt 2: the same
        assert await queue.claim([kind], LEASE) == []  # no third
        assert await queue.claim_item(item_id, kind, LEASE) is None

    run(database_url, work)
    [(state, error)] = run_sql(database_url, f"SELECT state, error FROM work_items WHERE kind = '{kind}'")
    assert state == "failed" and "lease expired" in error
