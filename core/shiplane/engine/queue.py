"""The durable work queue (DESIGN §7).

A work item is enqueued in the transaction of the change that calls for it, so work
exists exactly when its cause committed. Claimers take items with a lease:

- **Claim.** ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (concurrent claimers skip each
  other's rows instead of waiting); on SQLite the write transaction is ``BEGIN
  IMMEDIATE``, one writer at a time. A claim moves ``queued`` (due) or ``leased``
  with an expired lease to ``leased``, sets the owner and expiry, and increments the
  item's **epoch**: each lease has its own.
- **Fencing.** ``renew``, ``complete`` and ``fail`` are compare-and-set on (id,
  epoch, state ``leased``): a holder whose lease expired and was claimed again gets
  ``False`` and must drop its result. So an item is completed once, whoever worked on it.
- **Retries.** ``fail`` with attempts left puts the item back ``queued`` at a later
  ``run_at``; without, it is ``failed`` with the error.
- **Waking.** An enqueue wakes this process's waiters when its transaction commits;
  on PostgreSQL it also sends ``NOTIFY shiplane_work`` (delivered at commit), which
  ``listen()`` turns into a wake in every other process: dispatch does not wait for
  a polling interval. ``wait()`` still returns after its timeout, so expired leases
  are found without a notification.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, make_url, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from shiplane.engine.models import WorkItem
from shiplane.platform.database import Database, new_id, on_commit, utcnow
from shiplane.platform.tasks import wait_event

log = logging.getLogger("shiplane.engine")

CHANNEL = "shiplane_work"
MAX_BACKOFF = timedelta(minutes=10)


def _due_at(now: datetime) -> Any:
    """Queued and due, or leased with a lease that has run out."""
    return or_(
        and_(WorkItem.state == "queued", WorkItem.run_at <= now),
        and_(WorkItem.state == "leased", WorkItem.lease_expires_at < now),
    )


@dataclass(frozen=True)
class Claim:
    id: str
    tenant_id: str
    kind: str
    payload: dict[str, Any]
    epoch: int
    attempts: int
    lease_expires_at: datetime


class WorkQueue:
    def __init__(self, db: Database, owner: str) -> None:
        self.db = db
        self.owner = owner
        self.counts: Counter[str] = Counter()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
        self._listener: Any = None
        self.last_depth: dict[tuple[str, str], int] = {}

    # -- enqueue --------------------------------------------------------------------------------

    async def enqueue(
        self,
        session: AsyncSession,
        kind: str,
        payload: dict[str, Any],
        *,
        run_at: datetime | None = None,
        max_attempts: int = 3,
        item_id: str | None = None,
    ) -> str:
        """Add an item in ``session``'s transaction (its tenant); it exists once that commits."""
        item = WorkItem(
            id=item_id or new_id(),
            kind=kind,
            payload=payload,
            state="queued",
            run_at=run_at or utcnow(),
            max_attempts=max_attempts,
        )
        session.add(item)
        if self.db.dialect == "postgresql":
            await session.execute(text("SELECT pg_notify(:channel, :kind)"), {"channel": CHANNEL, "kind": kind})
        on_commit(session, self.wake)
        self.counts["enqueued"] += 1
        return item.id

    # -- claiming and leases --------------------------------------------------------------------

    async def claim(self, kinds: Iterable[str], lease: timedelta, *, limit: int = 1) -> list[Claim]:
        """Lease up to ``limit`` due items of ``kinds`` (oldest ``run_at`` first)."""
        now = utcnow()
        due = _due_at(now)
        async with self.db.session(None, write=True) as session:
            rows = (
                await session.scalars(
                    select(WorkItem)
                    .where(WorkItem.kind.in_(list(kinds)), due)
                    .order_by(WorkItem.run_at, WorkItem.id)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            claims = []
            for row in rows:
                if row.state == "leased":
                    self.counts["lease_expired"] += 1
                    if row.attempts >= row.max_attempts:
                        # Every attempt's holder vanished (a crash each time): give up, visibly.
                        row.state, row.error = "failed", "every attempt's lease expired without a result"
                        row.lease_owner = row.lease_expires_at = None
                        self.counts["failed"] += 1
                        continue
                row.state = "leased"
                row.epoch += 1
                row.attempts += 1
                row.lease_owner = self.owner
                row.lease_expires_at = now + lease
                claims.append(
                    Claim(row.id, row.tenant_id, row.kind, dict(row.payload), row.epoch, row.attempts, now + lease)
                )
        self.counts["claimed"] += len(claims)
        return claims

    async def due_of_kinds(self, kinds: list[str], *, limit: int) -> list[tuple[str, str, int]]:
        """(id, kind, epoch) of due items of ``kinds`` (500 kinds per query), oldest first,
        without claiming them: what the agents' streams offer, for an agent to accept
        (``claim_item``). A due item with epoch > 0 is one whose lease ran out."""
        found: list[tuple[str, str, int]] = []
        for chunk in range(0, len(kinds), 500):
            found += await self._due(WorkItem.kind.in_(kinds[chunk : chunk + 500]), limit)
        return sorted(found)[:limit] if len(kinds) > 500 else found

    async def _due(self, which: Any, limit: int) -> list[tuple[str, str, int]]:
        now = utcnow()
        due = _due_at(now)
        async with self.db.session(None, write=False) as session:
            rows = await session.execute(
                select(WorkItem.id, WorkItem.kind, WorkItem.epoch, WorkItem.state)
                .where(WorkItem.state.in_(("queued", "leased")), which, due)
                .order_by(WorkItem.run_at, WorkItem.id)
                .limit(limit)
            )
            # A queued item's epoch is its last lease's (0 if never claimed); only a leased
            # one's expired lease concerns its current holder.
            return [(row.id, row.kind, row.epoch if row.state == "leased" else -1) for row in rows.all()]

    async def claim_item(self, item_id: str, kind: str, lease: timedelta, owner: str | None = None) -> Claim | None:
        """Lease one item by id if it is still due (compare-and-set): the agent's accept."""
        now = utcnow()
        due = _due_at(now)
        async with self.db.session(None, write=True) as session:
            row = await session.scalar(
                select(WorkItem)
                .where(WorkItem.id == item_id, WorkItem.kind == kind, due)
                .with_for_update(skip_locked=True)
            )
            if row is None:
                return None
            if row.state == "leased":
                self.counts["lease_expired"] += 1
                if row.attempts >= row.max_attempts:
                    row.state, row.error = "failed", "every attempt's lease expired without a result"
                    row.lease_owner = row.lease_expires_at = None
                    self.counts["failed"] += 1
                    return None
            row.state = "leased"
            row.epoch += 1
            row.attempts += 1
            row.lease_owner = owner or self.owner
            row.lease_expires_at = now + lease
            claim = Claim(row.id, row.tenant_id, row.kind, dict(row.payload), row.epoch, row.attempts, now + lease)
        self.counts["claimed"] += 1
        return claim

    async def lease_of(self, item_id: str) -> tuple[str, int, datetime | None] | None:
        """(state, epoch, lease expiry) of an item, or None."""
        async with self.db.session(None, write=False) as session:
            row = (
                await session.execute(
                    select(WorkItem.state, WorkItem.epoch, WorkItem.lease_expires_at).where(WorkItem.id == item_id)
                )
            ).first()
            return (row.state, row.epoch, row.lease_expires_at) if row is not None else None

    async def _compare_and_set(self, item_id: str, epoch: int, **values: Any) -> bool:
        async with self.db.session(None, write=True) as session:
            result = await session.execute(
                update(WorkItem)
                .where(WorkItem.id == item_id, WorkItem.epoch == epoch, WorkItem.state == "leased")
                .values(updated_at=utcnow(), **values)
                .execution_options(synchronize_session=False)
            )
        changed = bool(getattr(result, "rowcount", 0))
        if not changed:
            self.counts["stale"] += 1
        return changed

    async def renew(self, item_id: str, epoch: int, lease: timedelta) -> bool:
        """Extend the lease of epoch ``epoch``; False if that lease is no longer the item's."""
        return await self._compare_and_set(item_id, epoch, lease_expires_at=utcnow() + lease)

    async def complete_in(
        self, session: AsyncSession, item_id: str, epoch: int, result: dict[str, Any] | None = None
    ) -> bool:
        """``complete`` inside the caller's transaction, so the result's effects commit with it."""
        outcome = await session.execute(
            update(WorkItem)
            .where(WorkItem.id == item_id, WorkItem.epoch == epoch, WorkItem.state == "leased")
            .values(state="done", result=result, lease_owner=None, lease_expires_at=None, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        done = bool(getattr(outcome, "rowcount", 0))
        self.counts["completed" if done else "stale"] += 1
        return done

    async def complete(self, item_id: str, epoch: int, result: dict[str, Any] | None = None) -> bool:
        done = await self._compare_and_set(
            item_id, epoch, state="done", result=result, lease_owner=None, lease_expires_at=None
        )
        if done:
            self.counts["completed"] += 1
        return done

    async def fail(self, item_id: str, epoch: int, error: str, *, backoff: timedelta = timedelta(seconds=5)) -> bool:
        """Record a failed attempt: back to ``queued`` after ``backoff`` (doubling per attempt,
        at most 10 minutes) while attempts are left, else ``failed``."""
        async with self.db.session(None, write=True) as session:
            row = await session.scalar(
                select(WorkItem)
                .where(WorkItem.id == item_id, WorkItem.epoch == epoch, WorkItem.state == "leased")
                .with_for_update()
            )
            if row is None:
                self.counts["stale"] += 1
                return False
            row.error = error[:4000]
            row.lease_owner = None
            row.lease_expires_at = None
            if row.attempts < row.max_attempts:
                row.state = "queued"
                row.run_at = utcnow() + min(backoff * (2 ** (row.attempts - 1)), MAX_BACKOFF)
                self.counts["retried"] += 1
            else:
                row.state = "failed"
                self.counts["failed"] += 1
        return True

    async def prune(self, older_than: timedelta) -> int:
        """Delete finished items (``done``, ``failed``) last changed before ``older_than`` ago;
        unfinished ones are never pruned, whatever their age."""
        cutoff = utcnow() - older_than
        async with self.db.session(None, write=True) as session:
            result = await session.execute(
                delete(WorkItem)
                .where(WorkItem.state.in_(("done", "failed")), WorkItem.updated_at < cutoff)
                .execution_options(synchronize_session=False)
            )
        pruned = int(getattr(result, "rowcount", 0) or 0)
        self.counts["pruned"] += pruned
        return pruned

    # -- observing ------------------------------------------------------------------------------

    async def depth(self) -> dict[tuple[str, str], int]:
        """Items by (kind, state) among those not finished: the queue's depth."""
        async with self.db.session(None, write=False) as session:
            rows = await session.execute(
                select(WorkItem.kind, WorkItem.state, func.count())
                .where(WorkItem.state.in_(("queued", "leased")))
                .group_by(WorkItem.kind, WorkItem.state)
            )
            self.last_depth = {(kind, state): int(count) for kind, state, count in rows.all()}
            return self.last_depth

    # -- waking ---------------------------------------------------------------------------------

    def wake(self) -> None:
        """Wake every waiter, from any thread or event loop."""
        for loop, event in list(self._waiters):
            if not loop.is_closed():
                loop.call_soon_threadsafe(event.set)

    def subscribe(self) -> asyncio.Event:
        """An event this queue sets at every wake until ``unsubscribe``: a long-lived
        consumer clears it before each round, so a wake during a round is not lost."""
        event = asyncio.Event()
        self._waiters.append((asyncio.get_running_loop(), event))
        return event

    def unsubscribe(self, event: asyncio.Event) -> None:
        self._waiters[:] = [entry for entry in self._waiters if entry[1] is not event]

    async def wait(self, timeout: float) -> bool:  # noqa: ASYNC109 - the poll interval is the point
        """Until work may have arrived (True) or ``timeout`` passed (False)."""
        entry = (asyncio.get_running_loop(), asyncio.Event())
        self._waiters.append(entry)
        try:
            return await wait_event(entry[1], timeout)
        finally:
            self._waiters.remove(entry)

    async def listen(self) -> None:
        """PostgreSQL: turn ``NOTIFY shiplane_work`` from any process into a wake here, on a
        connection of its own (outside the pools)."""
        if self.db.dialect != "postgresql" or self._listener is not None:
            return
        import asyncpg

        dsn = make_url(self.db.url).set(drivername="postgresql").render_as_string(hide_password=False)
        self._listener = await asyncpg.connect(dsn)
        await self._listener.add_listener(CHANNEL, lambda *_args: self.wake())

    async def close(self) -> None:
        if self._listener is not None:
            listener, self._listener = self._listener, None
            await listener.close()
