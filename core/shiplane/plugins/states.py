"""Each tenant's plugin decisions (enabled/disabled), cached per process.

Every rendered environment, gate and instance says whether its plugin is usable,
so every list read needs the tenant's decisions. They change rarely (an admin's
enable/disable), so each process keeps them and forgets a tenant's entry:

- at once in the process that made the change (after its commit), and
- in every other process within ``poll_seconds``: enabling and disabling write a
  domain event (``plugin.enabled``/``plugin.disabled``) to the outbox, and a loop in
  each process reads the new ones and drops those tenants' entries;
- and in any case after ``MAX_AGE_POLLS`` poll intervals (an event that became
  visible late, behind a long transaction, is not waited for).

Decisions a write depends on (may this new gate use that plugin?) are read fresh
from the database by the plugin service, never from this cache, so a disable is
enforced at once everywhere; only the ``problem`` shown on reads can lag, by at
most ``poll_seconds``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.engine import Connection

from shiplane.platform.events import OutboxEvent
from shiplane.platform.reads import ReadStore, tenant_select
from shiplane.platform.tasks import stop_task
from shiplane.plugins.models import PluginTenantState

log = logging.getLogger("shiplane.plugins")

STATE_EVENTS = ("plugin.enabled", "plugin.disabled")
# Outbox sequence numbers are taken at insert and become visible at commit, so a
# lower one can appear after a higher one: each poll looks this far back again.
REORDER_WINDOW = 1000
# However late a change's event becomes visible, no entry is older than this many
# poll intervals; and the cache holds this many tenants at most.
MAX_AGE_POLLS = 10
MAX_TENANTS = 10_000

_STATES = PluginTenantState.__table__
_DECISIONS = tenant_select(_STATES, _STATES.c.plugin_id, _STATES.c.enabled)
_OUTBOX = OutboxEvent.__table__
_CHANGES = (
    select(_OUTBOX.c.seq, _OUTBOX.c.tenant_id)
    .where(_OUTBOX.c.seq > bindparam("since"), _OUTBOX.c.type.in_(STATE_EVENTS))
    .order_by(_OUTBOX.c.seq)
)
_LAST_SEQ = select(func.coalesce(func.max(_OUTBOX.c.seq), 0))


class PluginStateCache:
    def __init__(self, store: ReadStore, *, poll_seconds: float = 1.0) -> None:
        self.store = store
        self.poll_seconds = poll_seconds
        # tenant -> (decisions, monotonic time after which they are read again)
        self._decisions: dict[str, tuple[dict[str, bool], float]] = {}
        # Bumped on every invalidation: a load that raced one does not store its result.
        self._generation = 0
        # The outbox head seen last; None until the first poll (start-up must not need the database).
        self._last_seq: int | None = None
        self._seen: set[int] = set()
        self._task: asyncio.Task[None] | None = None
        self.hits = 0
        self.misses = 0

    async def decisions(self, tenant_id: str) -> dict[str, bool]:
        """The tenant's explicit decisions (plugin id -> enabled); absent means the plugin's default."""
        cached = self._decisions.get(tenant_id)
        if cached is not None and time.monotonic() < cached[1]:
            self.hits += 1
            return cached[0]
        self.misses += 1
        generation = self._generation
        bound = {"tenant": tenant_id}

        def load(conn: Connection) -> dict[str, bool]:
            return {row.plugin_id: bool(row.enabled) for row in conn.execute(_DECISIONS, bound)}

        loaded = await self.store.run(tenant_id, load, bounded=True)
        if self._generation == generation:
            if len(self._decisions) >= MAX_TENANTS:
                self._decisions.clear()
            self._decisions[tenant_id] = (loaded, time.monotonic() + MAX_AGE_POLLS * self.poll_seconds)
        return loaded

    def invalidate(self, tenant_id: str) -> None:
        self._generation += 1
        self._decisions.pop(tenant_id, None)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="shiplane-plugin-state-cache")

    async def stop(self) -> None:
        await stop_task(self._task)
        self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await self.poll_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database may be briefly away; forget everything to be safe
                log.warning("plugin state cache: reading changes failed", exc_info=True)
                self._decisions.clear()
            await asyncio.sleep(self.poll_seconds)

    async def poll_once(self) -> int:
        """Forget the tenants whose decisions changed since the last poll; how many events were new.

        Each poll reads the outbox from a little before the head it saw last time, so
        its cost follows the write rate, not the outbox's size.
        """
        if self._last_seq is None:
            # Nothing is cached before the cache starts: begin at the current head.
            self._last_seq = int(await self.store.run(None, lambda conn: conn.execute(_LAST_SEQ).scalar() or 0))
            return 0
        since = max(0, self._last_seq - REORDER_WINDOW)

        def read(conn: Connection) -> tuple[int, list[Any]]:
            head = int(conn.execute(_LAST_SEQ).scalar() or 0)
            return head, list(conn.execute(_CHANGES, {"since": since}).all())

        head, rows = await self.store.run(None, read)
        fresh = [row for row in rows if row.seq not in self._seen]
        for row in fresh:
            self._seen.add(row.seq)
            self.invalidate(row.tenant_id)
        self._last_seq = max(self._last_seq, head)
        self._seen = {seq for seq in self._seen if seq > self._last_seq - REORDER_WINDOW}
        return len(fresh)
