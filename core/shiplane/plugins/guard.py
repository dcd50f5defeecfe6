"""The one guarded call into plugin code.

Every call into a plugin goes through ``PluginGuard.call``: a timeout, sync code
run on a dedicated thread pool (so a blocking plugin cannot stall the event loop
or starve the default executor), every exception turned into ``PluginCallFailed``
naming the plugin, and a circuit breaker per plugin. After ``threshold``
consecutive failures the breaker opens: calls fail at once for ``reset_seconds``,
then one trial call is let through (half-open) and its outcome closes or reopens
it. An open or half-open breaker is what ``/plugins/{id}/health`` reports as
``degraded``. Calls made with ``count=False`` (health probes) never take the trial
and never move the breaker: while it is not closed they are refused at once.

A sync call that times out keeps running in its thread (Python cannot kill a
thread); the pool is bounded so such calls cannot grow without limit. Calls still
running are limited per plugin and tenant, and per plugin across all tenants, so
one tenant's hanging calls cannot block another tenant's.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shiplane.platform.database import utcnow

log = logging.getLogger("shiplane.plugins")


# Failure kinds where the guard refused the call before any plugin code ran.
REFUSED = frozenset({"circuit open", "too many calls running"})


class PluginCallFailed(Exception):
    """A guarded call failed. ``reason`` may quote the plugin's own error text (shown
    only to the tenant the call was made for, after scrubbing); ``kind`` never does."""

    def __init__(self, plugin_id: str, operation: str, reason: str, kind: str | None = None) -> None:
        super().__init__(f"plugin {plugin_id!r} failed in {operation}: {reason}")
        self.plugin_id = plugin_id
        self.operation = operation
        self.reason = reason
        self.kind = kind or reason


@dataclass
class Breaker:
    state: str = "closed"  # closed | open | half_open
    consecutive_failures: int = 0
    total_failures: int = 0
    total_calls: int = 0
    opened_at: float = 0.0
    trial_running: bool = False
    # Shared by every tenant, so it holds the kind of failure (exception type, timeout),
    # never the plugin's error text, which may carry one tenant's data.
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


def scrub(text: str, secrets: list[str]) -> str:
    """``text`` with every known secret value replaced by ``***``."""
    for value in sorted(secrets, key=len, reverse=True):
        if len(value) >= 3:
            text = text.replace(value, "***")
    return text


class PluginExited(Exception):
    """A plugin raised SystemExit or KeyboardInterrupt."""


async def _contained(awaitable: Any) -> Any:
    # asyncio re-raises SystemExit/KeyboardInterrupt out of the event loop from any task
    # they escape, so they must be caught inside the task, in the plugin's own frame.
    try:
        return await awaitable
    except (SystemExit, KeyboardInterrupt) as exc:
        raise PluginExited(f"{type(exc).__name__}: {exc}") from None


class PluginGuard:
    def __init__(
        self,
        timeout: float,
        threshold: int,
        reset_seconds: float,
        max_threads: int = 16,
        max_in_flight_per_plugin: int = 4,
        max_in_flight_per_plugin_total: int = 8,
        max_steps_per_plugin: int = 16,
        max_steps_per_plugin_total: int = 64,
    ) -> None:
        self.timeout = timeout
        self.threshold = threshold
        self.reset_seconds = reset_seconds
        self.max_in_flight = max_in_flight_per_plugin
        self.max_in_flight_total = max_in_flight_per_plugin_total
        # Workflow steps may run for hours: they count in a lane of their own, so a tenant's
        # long steps never leave its gates and config checks without room (and the reverse).
        self.lane_limits = {
            "call": (max_in_flight_per_plugin, max_in_flight_per_plugin_total),
            "step": (max_steps_per_plugin, max_steps_per_plugin_total),
        }
        # Per (plugin, tenant): failures a tenant's own configuration causes (a gate that
        # raises on its rules, a timeout on its data) open the breaker for that tenant
        # only. Calls made for no tenant (health probes, start-up) use (plugin, None):
        # the plugin's own health, which every tenant sees.
        self.breakers: dict[tuple[str, str | None], Breaker] = {}
        # Calls still running, including sync calls that timed out but whose thread has
        # not returned: per (plugin, tenant), so one tenant's hanging calls leave room for
        # the others, and per plugin, so one plugin cannot take every pool thread.
        self._in_flight: dict[str, int] = {}
        self._in_flight_tenant: dict[tuple[str, str | None], int] = {}
        self._in_flight_lock = threading.Lock()
        # For /metrics: calls by (plugin, result), and (count, total seconds) per plugin.
        self.outcomes: dict[tuple[str, str], int] = {}
        self.durations: dict[str, tuple[int, float]] = {}
        self._pool = ThreadPoolExecutor(max_workers=max_threads, thread_name_prefix="shiplane-plugin")

    def breaker(self, plugin_id: str, tenant_id: str | None = None) -> Breaker:
        """The breaker deciding calls into ``plugin_id`` made for ``tenant_id`` (None: the plugin's own)."""
        return self.breakers.setdefault((plugin_id, tenant_id), Breaker())

    def in_flight(self, plugin_id: str, tenant_id: str | None = None, *, per_tenant: bool = False) -> int:
        """Calls into ``plugin_id`` still running: all of them, or (``per_tenant=True``)
        those made for ``tenant_id`` (``None``: the calls made for no tenant)."""
        with self._in_flight_lock:
            if per_tenant:
                return self._in_flight_tenant.get((plugin_id, tenant_id), 0)
            return self._in_flight.get(plugin_id, 0)

    def _enter(self, plugin_id: str, tenant_id: str | None, operation: str, lane: str = "call") -> None:
        per_tenant, per_plugin = self.lane_limits[lane]
        plugin_key = plugin_id if lane == "call" else f"{plugin_id}\x00{lane}"
        with self._in_flight_lock:
            key = (plugin_key, tenant_id)
            mine = self._in_flight_tenant.get(key, 0)
            if mine >= per_tenant:
                raise PluginCallFailed(
                    plugin_id, operation, f"{mine} calls for this tenant still running", "too many calls running"
                )
            running = self._in_flight.get(plugin_key, 0)
            if running >= per_plugin:
                raise PluginCallFailed(plugin_id, operation, f"{running} calls still running", "too many calls running")
            self._in_flight_tenant[key] = mine + 1
            self._in_flight[plugin_key] = running + 1

    def _leave(self, plugin_id: str, tenant_id: str | None, lane: str = "call") -> None:
        plugin_key = plugin_id if lane == "call" else f"{plugin_id}\x00{lane}"
        with self._in_flight_lock:
            key = (plugin_key, tenant_id)
            mine = self._in_flight_tenant.get(key, 0) - 1
            if mine > 0:
                self._in_flight_tenant[key] = mine
            else:
                self._in_flight_tenant.pop(key, None)
            self._in_flight[plugin_key] = max(0, self._in_flight.get(plugin_key, 0) - 1)

    def _admit(
        self, plugin_id: str, operation: str, count: bool = True, tenant_id: str | None = None
    ) -> tuple[Breaker, bool]:
        """The breaker, and whether this call is the half-open trial.

        An uncounted call (a health probe) cannot decide the breaker's state, so it
        never takes the trial nor moves an open breaker to half-open: unless the
        breaker is closed it is refused at once.
        """
        breaker = self.breaker(plugin_id, tenant_id)
        if not count:
            if breaker.state != "closed":
                state = breaker.state.replace("_", "-")
                reason = f"circuit {state}, probes wait until it closes"
                raise PluginCallFailed(plugin_id, operation, reason, "circuit open")
            return breaker, False
        if breaker.state == "open":
            if time.monotonic() - breaker.opened_at < self.reset_seconds:
                raise PluginCallFailed(plugin_id, operation, "circuit open after repeated failures", "circuit open")
            breaker.state = "half_open"
        if breaker.state == "half_open":
            if breaker.trial_running:  # one trial call at a time decides
                raise PluginCallFailed(plugin_id, operation, "circuit half-open, trial call running", "circuit open")
            breaker.trial_running = True
            return breaker, True
        return breaker, False

    def _failed(
        self, breaker: Breaker, plugin_id: str, operation: str, reason: str, kind: str, count: bool
    ) -> PluginCallFailed:
        if count:
            breaker.consecutive_failures += 1
            breaker.total_failures += 1
            breaker.last_error = f"{operation}: {kind}"
            breaker.last_failure_at = utcnow()
            if breaker.state == "half_open" or breaker.consecutive_failures >= self.threshold:
                breaker.state = "open"
                breaker.opened_at = time.monotonic()
        log.warning("plugin call failed", extra={"plugin": plugin_id, "operation": operation, "reason": reason})
        return PluginCallFailed(plugin_id, operation, reason, kind)

    def _succeeded(self, breaker: Breaker, count: bool) -> None:
        if count:
            breaker.consecutive_failures = 0
            breaker.state = "closed"

    async def call(
        self, plugin_id: str, operation: str, function: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> Any:
        """Call ``function`` on behalf of ``plugin_id`` (see :meth:`_call`), counted by
        result for ``/metrics``: ``ok``, ``error``, ``timeout``, ``refused`` (breaker
        open, too many calls running: no plugin code ran) or ``cancelled``."""
        start = time.perf_counter()
        outcome = "cancelled"
        try:
            value = await self._call(plugin_id, operation, function, *args, **kwargs)
            outcome = "ok"
            return value
        except PluginCallFailed as exc:
            outcome = "timeout" if exc.kind == "timeout" else "refused" if exc.kind in REFUSED else "error"
            raise
        finally:
            elapsed = time.perf_counter() - start
            with self._in_flight_lock:
                key = (plugin_id, outcome)
                self.outcomes[key] = self.outcomes.get(key, 0) + 1
                count, total = self.durations.get(plugin_id, (0, 0.0))
                self.durations[plugin_id] = (count + 1, total + elapsed)

    async def _call(
        self,
        plugin_id: str,
        operation: str,
        function: Callable[..., Any],
        *args: Any,
        timeout: float | None = None,  # noqa: ASYNC109 - applied per call with asyncio.wait_for
        secrets: list[str] | None = None,
        count: bool = True,
        tenant_id: str | None = None,
        breaker_free: bool = False,
        lane: str = "call",
        **kwargs: Any,
    ) -> Any:
        """Call ``function`` on behalf of ``plugin_id``; raise ``PluginCallFailed`` on any failure.

        ``secrets`` are scrubbed from the error text; ``count=False`` keeps the call out
        of the breaker (read-only probes such as health, which any tenant may trigger;
        refused while the breaker is not closed). ``tenant_id`` is the tenant the call
        is made for: it needs room under that tenant's in-flight limit for the plugin
        as well as under the plugin's total.
        """
        if breaker_free:
            # Checking a tenant's configuration: neither decided by a breaker nor counted
            # (timeouts, in-flight limits and error handling still apply).
            breaker, trial, count = Breaker(), False, False
        else:
            breaker, trial = self._admit(plugin_id, operation, count, tenant_id)
        try:
            self._enter(plugin_id, tenant_id, operation, lane)
        except PluginCallFailed:
            if trial:
                breaker.trial_running = False
            raise
        breaker.total_calls += 1
        limit = self.timeout if timeout is None else timeout
        released = False
        try:
            if inspect.iscoroutinefunction(function):
                result = await asyncio.wait_for(_contained(function(*args, **kwargs)), limit)
            else:
                loop = asyncio.get_running_loop()

                def run() -> Any:
                    try:
                        return function(*args, **kwargs)
                    finally:
                        self._leave(plugin_id, tenant_id, lane)  # when the thread really returns

                released = True
                future = loop.run_in_executor(self._pool, run)
                result = await asyncio.wait_for(future, limit)
                if inspect.isawaitable(result):  # a sync function may hand back an awaitable
                    result = await asyncio.wait_for(_contained(result), limit)
        except TimeoutError:
            raise self._failed(breaker, plugin_id, operation, f"timed out after {limit:g}s", "timeout", count) from None
        except asyncio.CancelledError:
            raise
        except PluginExited as exc:
            reason = scrub(str(exc), secrets or [])
            raise self._failed(breaker, plugin_id, operation, reason, reason.split(":")[0], count) from None
        except BaseException as exc:  # noqa: BLE001 - plugin code may raise anything, even SystemExit
            # An exception raised in a plugin's worker process keeps its own class name.
            name = getattr(exc, "remote_type", None) or type(exc).__name__
            reason = scrub(f"{name}: {exc}", secrets or [])
            raise self._failed(breaker, plugin_id, operation, reason, name, count) from None
        finally:
            if not released:
                self._leave(plugin_id, tenant_id, lane)
            if trial:
                breaker.trial_running = False
        self._succeeded(breaker, count)
        return result

    def call_blocking(self, plugin_id: str, operation: str, function: Callable[..., Any], *args: Any) -> Any:
        """The same guard for the few calls made before the event loop runs (loading hooks)."""
        breaker, trial = self._admit(plugin_id, operation)
        breaker.total_calls += 1
        future = self._pool.submit(function, *args)
        try:
            result = future.result(timeout=self.timeout)
        except FutureTimeout:
            raise self._failed(
                breaker, plugin_id, operation, f"timed out after {self.timeout:g}s", "timeout", True
            ) from None
        except BaseException as exc:  # noqa: BLE001 - even SystemExit must not stop start-up
            raise self._failed(
                breaker, plugin_id, operation, f"{type(exc).__name__}: {exc}", type(exc).__name__, True
            ) from None
        finally:
            if trial:
                breaker.trial_running = False
        if inspect.isawaitable(result):
            close = getattr(result, "close", None)
            if close is not None:
                close()
            raise self._failed(
                breaker,
                plugin_id,
                operation,
                "must be synchronous, returned an awaitable",
                "returned an awaitable",
                True,
            )
        self._succeeded(breaker, True)
        return result

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
