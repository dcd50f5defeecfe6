"""Background loops stop when cancelled, even when woken at the same moment."""

from __future__ import annotations

import asyncio

import pytest
from shiplane.platform.tasks import stop_task, wait_event


def test_a_cancel_that_arrives_with_the_wake_stops_the_loop() -> None:
    async def main() -> None:
        event = asyncio.Event()
        rounds = 0

        async def loop() -> None:
            nonlocal rounds
            while True:
                await wait_event(event, 10)
                event.clear()
                rounds += 1

        for _ in range(50):
            task = asyncio.create_task(loop())
            await asyncio.sleep(0)
            event.set()  # the wake and the cancel in the same turn of the loop
            task.cancel()
            await asyncio.wait_for(stop_task(task), 5)  # asyncio.wait_for swallowed this cancel on 3.11
            assert task.cancelled()

    asyncio.run(main())


def test_it_says_whether_the_event_came() -> None:
    async def main() -> tuple[bool, bool]:
        event = asyncio.Event()
        missed = await wait_event(event, 0.01)
        event.set()
        return missed, await wait_event(event, 1)

    assert asyncio.run(main()) == (False, True)


@pytest.mark.parametrize("timeout", [0.0, 0.001])
def test_a_zero_timeout_does_not_wait(timeout: float) -> None:
    assert asyncio.run(wait_event(asyncio.Event(), timeout)) is False
