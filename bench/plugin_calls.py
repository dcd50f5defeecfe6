"""Plugin call round trip: in process vs out of process (docs/plugins/isolation.md).

    python bench/plugin_calls.py [--calls N] [--rounds R] [--concurrency C]

Two registries of the same installed plugins, one with the built-in plugin in the
server (its default), one with it in worker processes
(``SHIPLANE_PLUGINS_OUT_OF_PROCESS=["builtin"]``). Each call is the real path: the
guard (timeout, breaker, in-flight limits) calling the ``release-not-deprecated``
gate's ``evaluate`` with a gate context, which makes no I/O of its own. Two payloads:
an empty config, and a 1 MiB config (the size limit of a request body) the gate
ignores, so only its transfer costs. Per round the modes alternate (interleaved), and
the summary prints each mode's median and p99 latency of sequential calls, the
throughput of ``--concurrency`` callers, and the out/in ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shiplane.platform.settings import Settings
from shiplane.plugins.gates import CoreGateContext
from shiplane.plugins.manager import PluginRegistry


def registry(out_of_process: bool, data_dir: Path) -> PluginRegistry:
    settings = Settings(
        mode="development",
        data_dir=data_dir,
        database_url=f"sqlite+aiosqlite:///{data_dir}/bench.db",
        plugins_allow=["builtin"],
        plugins_out_of_process=["builtin"] if out_of_process else [],
        plugin_workers_per_plugin=4,
        plugin_health_probe_seconds=0,
    )
    return PluginRegistry(settings).load()


def context() -> CoreGateContext:
    return CoreGateContext(
        tenant_id="bench",
        release={"id": "rel-1", "name": "shop-1.4.0", "state": "active", "components": []},
        environment={"id": "env-1", "name": "production"},
        promotion=None,
        now=datetime.now(UTC),
    )


def big_config() -> dict[str, Any]:
    # ~1 MiB of JSON, shaped like real config: many small objects.
    return {
        "items": [{"name": f"component-{i:06d}", "image": "registry.example/team/app", "n": i} for i in range(14000)]
    }


async def call(reg: PluginRegistry, config: dict[str, Any]) -> None:
    gate = reg.capabilities["gate"]["release-not-deprecated"].capability
    await reg.guard.call("builtin", "bench", gate.evaluate, context(), config)  # type: ignore[attr-defined]


async def sequential(reg: PluginRegistry, config: dict[str, Any], calls: int) -> list[float]:
    latencies = []
    for _ in range(calls):
        start = time.perf_counter()
        await call(reg, config)
        latencies.append(time.perf_counter() - start)
    return latencies


async def throughput(reg: PluginRegistry, config: dict[str, Any], calls: int, concurrency: int) -> float:
    remaining = calls

    async def caller() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await call(reg, config)

    start = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(concurrency)))
    return calls / (time.perf_counter() - start)


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=4, help="at most the guard's in-flight limit per tenant (4)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        registries = {"in process": registry(False, Path(tmp)), "out of process": registry(True, Path(tmp))}
        payloads = {"no-op gate": {}, "1 MiB config": big_config()}
        latency: dict[tuple[str, str], list[float]] = {}
        rate: dict[tuple[str, str], list[float]] = {}
        try:
            for payload, config in payloads.items():
                calls = args.calls if not config else max(20, args.calls // 40)
                for reg in registries.values():  # warm up: workers started, caches filled
                    await sequential(reg, config, 5)
                for _ in range(args.rounds):
                    for mode, reg in registries.items():
                        latency.setdefault((payload, mode), []).extend(await sequential(reg, config, calls))
                        rate.setdefault((payload, mode), []).append(
                            await throughput(reg, config, calls, args.concurrency)
                        )
        finally:
            for reg in registries.values():
                await reg.shutdown()
    print(f"python {sys.version.split()[0]}, {args.rounds} interleaved rounds, concurrency {args.concurrency}")
    print(f"{'payload':<14} {'mode':<15} {'median ms':>10} {'p99 ms':>8} {'calls/s':>9}")
    for payload in payloads:
        for mode in registries:
            values = latency[(payload, mode)]
            print(
                f"{payload:<14} {mode:<15} {statistics.median(values) * 1000:>10.3f} {p99(values) * 1000:>8.3f}"
                f" {statistics.median(rate[(payload, mode)]):>9.0f}"
            )
        inside, outside = latency[(payload, "in process")], latency[(payload, "out of process")]
        ratio = statistics.median(outside) / statistics.median(inside)
        rates = statistics.median(rate[(payload, "out of process")]) / statistics.median(rate[(payload, "in process")])
        print(f"{payload:<14} {'out/in':<15} {ratio:>9.2f}x {'':>8} {rates:>8.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
