"""Freeze windows of an environment: saved, listed with their state, deleted.

The timing rules are in ``recurrence.py``. A recurring rule is checked when saved in a
child process with a hard time limit (``CHECK_TIMEOUT_SECONDS``): dateutil can search
for an impossible rule's next occurrence until the year 9999, and a thread cannot be
stopped. States (``active``, ``nextStart``, ``nextEnd``) are computed off the event loop.
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from shiplane.environments.models import Environment, FreezeWindow
from shiplane.environments.recurrence import RecurrenceError, Window, parse_rule, state, zone_of
from shiplane.environments.schemas import FreezeWindowCreate, freeze_window_out
from shiplane.environments.service import LIST_SPEC
from shiplane.platform.auth import Principal
from shiplane.platform.database import new_id, utcnow
from shiplane.platform.errors import ApiError, not_found, validation_error
from shiplane.platform.idempotency import WriteResult
from shiplane.platform.permissions import ROLES
from shiplane.platform.reads import TenantReads, tenant_select
from shiplane.platform.subprocesses import clean_environment
from shiplane.platform.writes import audit_change

MAX_WINDOWS_PER_ENVIRONMENT = 100
MAX_DURATION = timedelta(days=31)
CHECK_TIMEOUT_SECONDS = 3.0
_TABLE = FreezeWindow.__table__


def window_of(row: FreezeWindow | Row[Any]) -> Window:
    if row.rrule is None:
        return Window(starts_at=row.starts_at, ends_at=row.ends_at)
    return Window(
        starts_at=row.starts_at,
        rule=row.rrule,
        duration=timedelta(seconds=row.duration_seconds or 0),
        zone=row.time_zone,
    )


def states_at(rows: list[Any], now: datetime) -> list[dict[str, Any]]:
    return [state(window_of(row), now) for row in rows]


async def check_in_child(window: Window) -> str | None:
    """Why the recurrence is refused, checked in a child process that is killed past the limit."""
    request = {
        "startsAt": window.starts_at.isoformat(),
        "rrule": window.rule,
        "durationSeconds": int(window.duration.total_seconds()) if window.duration else 0,
        "timeZone": window.zone,
    }
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "shiplane.environments.recurrence",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env=clean_environment(),
    )
    try:
        out, _ = await asyncio.wait_for(child.communicate(json.dumps(request).encode()), CHECK_TIMEOUT_SECONDS)
    except TimeoutError:
        child.kill()
        await child.wait()
        return f"the rule cannot be evaluated within {CHECK_TIMEOUT_SECONDS:g}s"
    try:
        problem = json.loads(out)["problem"]
    except (ValueError, KeyError, TypeError):
        return "the rule could not be checked"
    return str(problem) if problem else None


class FreezeWindowService:
    def __init__(self, session: AsyncSession | None, principal: Principal) -> None:
        self._session = session
        self.principal = principal

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("a read-only FreezeWindowService cannot write")
        return self._session

    async def list_for(self, reads: TenantReads, environment_id: str) -> list[dict[str, Any]]:
        if await reads.get(LIST_SPEC, environment_id) is None:
            raise not_found("environment", environment_id)
        statement = (
            tenant_select(_TABLE)
            .where(_TABLE.c.environment_id == environment_id)
            .order_by(_TABLE.c.created_at, _TABLE.c.id)
            .limit(MAX_WINDOWS_PER_ENVIRONMENT)
        )
        rows = await reads.run(lambda conn: list(conn.execute(statement).all()))
        states = await asyncio.to_thread(states_at, rows, utcnow())
        return [freeze_window_out(row, s) for row, s in zip(rows, states, strict=True)]

    async def create(self, environment_id: str, body: FreezeWindowCreate) -> WriteResult:
        env = await self.session.scalar(select(Environment).where(Environment.id == environment_id))
        if env is None:
            raise not_found("environment", environment_id)
        window = await self._checked(body)
        count = await self.session.scalar(
            select(func.count()).select_from(FreezeWindow).where(FreezeWindow.environment_id == environment_id)
        )
        if (count or 0) >= MAX_WINDOWS_PER_ENVIRONMENT:
            raise ApiError(
                "INVALID_STATE",
                f"environment {env.name!r} has {MAX_WINDOWS_PER_ENVIRONMENT} freeze windows, the most it may have",
                {"maxFreezeWindows": MAX_WINDOWS_PER_ENVIRONMENT},
            )
        row = FreezeWindow(
            id=new_id(),
            tenant_id=self.principal.tenant_id,
            environment_id=environment_id,
            starts_at=window.starts_at,
            ends_at=window.ends_at,
            rrule=window.rule,
            duration_seconds=int(window.duration.total_seconds()) if window.duration else None,
            time_zone=window.zone,
            reason=body.reason,
            override_roles=list(dict.fromkeys(body.override_roles)),
            created_by=self.principal.user_id,
        )
        self.session.add(row)
        await self.session.flush()
        data = freeze_window_out(row, await asyncio.to_thread(state, window, utcnow()))
        await audit_change(self.session, self.principal, "freeze_window.create", "freeze_window", row.id, None, data)
        location = f"/api/v1/environments/{environment_id}/freeze-windows/{row.id}"
        return WriteResult(data, 201, {"Location": location})

    async def delete(self, environment_id: str, window_id: str) -> WriteResult:
        row = await self.session.scalar(
            select(FreezeWindow).where(FreezeWindow.id == window_id, FreezeWindow.environment_id == environment_id)
        )
        if row is None:
            raise not_found("freeze window", window_id)
        before = freeze_window_out(row, await asyncio.to_thread(state, window_of(row), utcnow()))
        await self.session.delete(row)
        await self.session.flush()
        await audit_change(self.session, self.principal, "freeze_window.delete", "freeze_window", row.id, before, None)
        return WriteResult(None, 204)

    async def _checked(self, body: FreezeWindowCreate) -> Window:
        for index, role in enumerate(body.override_roles):
            if role not in ROLES:
                raise validation_error(f"overrideRoles.{index}", f"unknown role {role!r}", "unknown_role")
        if body.rrule is None:
            for field, missing in (("startsAt", body.starts_at is None), ("endsAt", body.ends_at is None)):
                if missing:
                    raise validation_error(field, "a one-off window needs startsAt and endsAt", "missing")
            for field, given in (("duration", body.duration is not None), ("timeZone", body.time_zone is not None)):
                if given:
                    raise validation_error(field, "only a recurring window (with rrule) has one", "unexpected")
            assert body.starts_at is not None and body.ends_at is not None
            if body.ends_at <= body.starts_at:
                raise validation_error("endsAt", "must be after startsAt", "out_of_range")
            return Window(starts_at=body.starts_at, ends_at=body.ends_at)
        if body.ends_at is not None:
            raise validation_error("endsAt", "a recurring window ends each occurrence after its duration", "unexpected")
        if body.duration is None:
            raise validation_error("duration", "a recurring window needs a duration (ISO 8601, e.g. PT8H)", "missing")
        if not timedelta(minutes=1) <= body.duration <= MAX_DURATION or body.duration.microseconds:
            raise validation_error("duration", "between one minute and 31 days, in whole seconds", "out_of_range")
        if body.time_zone is None:
            raise validation_error("timeZone", "a recurring window needs an IANA time zone", "missing")
        window = Window(
            starts_at=body.starts_at or utcnow().replace(microsecond=0),
            rule=body.rrule,
            duration=body.duration,
            zone=body.time_zone,
        )
        try:
            zone = zone_of(body.time_zone)
            parse_rule(body.rrule, window.starts_at.astimezone(zone).replace(tzinfo=None))
        except RecurrenceError as exc:
            raise validation_error(exc.field, str(exc), "invalid") from None
        problem = await check_in_child(window)
        if problem is not None:
            raise validation_error("rrule", problem, "invalid")
        return window
