"""The one guarded call into plugin code.

Every call into a plugin goes through ``PluginGuard.call``: a timeout, sync code
run on a dedicated thread pool (so a blocking plugin cannot stall the event loop
or starve the default executor), every exception turned into ``PluginCallFailed``
naming the plugin, and a circuit breaker per plugin. After ``threshold``
consecutive failures the breaker opens: calls fail at once for ``reset_seconds``,
then one trial call is let through (half-open) and its outcome closes or reopens
it. An open or half-open breaker is what ``/plugins/{id}/health`` reports as
``degraded``.

A sync call that times out keeps running in its thread (Python cannot kill a
thread); the pool is bounded so such calls cannot grow without limit.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shiplane.platform.database import utcnow

log = logging.getLogger("shiplane.plugins")


class PluginCallFailed(Exception):
    def __init__(self, plugin_id: str, operation: str, reason: str) -> None:
        super().__init__(f"plugin {plugin_id!r} failed in {operation}: {reason}")
        self.plugin_id = plugin_id
        self.operation = operation
        self.reason = reason


@dataclass
class Breaker:
    state: str = "closed"  # closed | open | half_open
    consecutive_failures: int = 0
    total_failures: int = 0
    total_calls: int = 0
    opened_at: float = 0.0
    last_error: str | None = None
    last_failure_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        from shiplane.platform.envelope import rfc3339

        return {
            "state": self.state,
            "consecutiveFailures": self.consecutive_failures,
            "totalFailures": self.total_failures,
            "totalCalls": self.total_calls,
            "lastError": self.last_error,
            "lastFailureAt": rfc3339(self.last_failure_at) if self.last_failure_at else None,
        }


class PluginGuard:
    def __init__(self, timeout: float, threshold: int, reset_seconds: float, max_threads: int = 16) -> None:
        self.timeout = timeout
        self.threshold = threshold
        self.reset_seconds = reset_seconds
        self.breakers: dict[str, Breaker] = {}
        self._pool = ThreadPoolExecutor(max_workers=max_threads, thread_name_prefix="shiplane-plugin")

    def breaker(self, plugin_id: str) -> Breaker:
        return self.breakers.setdefault(plugin_id, Breaker())

    def _admit(self, plugin_id: str, operation: str) -> Breaker:
        breaker = self.breaker(plugin_id)
        if breaker.state == "open":
            if time.monotonic() - breaker.opened_at < self.reset_seconds:
                raise PluginCallFailed(plugin_id, operation, "circuit open after repeated failures")
            breaker.state = "half_open"
        return breaker

    def _failed(self, breaker: Breaker, plugin_id: str, operation: str, reason: str) -> PluginCallFailed:
        breaker.consecutive_failures += 1
        breaker.total_failures += 1
        breaker.last_error = f"{operation}: {reason}"
        breaker.last_failure_at = utcnow()
        if breaker.state == "half_open" or breaker.consecutive_failures >= self.threshold:
            breaker.state = "open"
            breaker.opened_at = time.monotonic()
        log.warning("plugin call failed", extra={"plugin": plugin_id, "operation": operation, "reason": reason})
        return PluginCallFailed(plugin_id, operation, reason)

    async def call(
        self,
        plugin_id: str,
        operation: str,
        function: Callable[..., Any],
        *args: Any,
        timeout: float | None = None,  # noqa: ASYNC109 - applied per call with asyncio.wait_for
        **kwargs: Any,
    ) -> Any:
        """Call ``function`` on behalf of ``plugin_id``; raise ``PluginCallFailed`` on any failure."""
        breaker = self._admit(plugin_id, operation)
        breaker.total_calls += 1
        limit = self.timeout if timeout is None else timeout
        try:
            if inspect.iscoroutinefunction(function):
                result = await asyncio.wait_for(function(*args, **kwargs), limit)
            else:
                loop = asyncio.get_running_loop()
                future = loop.run_in_executor(self._pool, lambda: function(*args, **kwargs))
                result = await asyncio.wait_for(future, limit)
                if inspect.isawaitable(result):  # a sync function may hand back an awaitable
                    result = await asyncio.wait_for(result, limit)
        except TimeoutError:
            raise self._failed(breaker, plugin_id, operation, f"timed out after {limit:g}s") from None
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # plugin code may raise anything; it must not escape
            raise self._failed(breaker, plugin_id, operation, f"{type(exc).__name__}: {exc}") from None
        breaker.consecutive_failures = 0
        breaker.state = "closed"
        return result

    def call_blocking(self, plugin_id: str, operation: str, function: Callable[..., Any], *args: Any) -> Any:
        """The same guard for the few calls made before the event loop runs (loading hooks)."""
        breaker = self._admit(plugin_id, operation)
        breaker.total_calls += 1
        future = self._pool.submit(function, *args)
        try:
            result = future.result(timeout=self.timeout)
        except FutureTimeout:
            raise self._failed(breaker, plugin_id, operation, f"timed out after {self.timeout:g}s") from None
        except Exception as exc:
            raise self._failed(breaker, plugin_id, operation, f"{type(exc).__name__}: {exc}") from None
        if inspect.isawaitable(result):
            close = getattr(result, "close", None)
            if close is not None:
                close()
            raise self._failed(breaker, plugin_id, operation, "must be synchronous, returned an awaitable")
        breaker.consecutive_failures = 0
        breaker.state = "closed"
        return result

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
