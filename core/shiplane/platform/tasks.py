"""Background tasks a process runs beside its requests (event delivery, caches, probes)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any


async def stop_task(task: asyncio.Task[Any] | None) -> None:
    """Cancel ``task`` (if any) and wait until it has really stopped."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def wait_event(event: asyncio.Event, timeout: float) -> bool:  # noqa: ASYNC109 - a poll interval
    """Until ``event`` is set (True) or ``timeout`` passed (False).

    Not ``asyncio.wait_for``: on Python 3.11 it can swallow a cancellation that arrives as
    the event is set, and a loop built on it then never stops (a server's shutdown hung
    on it). ``asyncio.timeout`` delivers every cancellation.
    """
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
        return True
    except TimeoutError:
        return False
