"""Token buckets per (tenant, user): in memory by default, in Redis when replicas share the load.

A bucket holds at most ``burst`` tokens and refills at ``per_minute / 60`` tokens
per second. Each request takes one token; an empty bucket answers 429 with the
seconds until one token is back.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Protocol

from shiplane.platform.settings import RateTier

log = logging.getLogger("shiplane.ratelimit")


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int  # bucket capacity (burst)
    remaining: int
    reset_at: int  # epoch seconds when the bucket is full again
    retry_after: int  # seconds until one token is available (0 if allowed)
    tier: str
    per_minute: int
    window_seconds: int  # seconds an empty bucket takes to fill


class RateLimiter(Protocol):
    async def take(self, key: str, tier_name: str, tier: RateTier) -> Decision: ...

    async def close(self) -> None: ...


def _decision(allowed: bool, tokens: float, now: float, tier_name: str, tier: RateTier) -> Decision:
    rate = tier.per_minute / 60.0
    full_in = (tier.burst - tokens) / rate
    retry = 0 if allowed else math.ceil((1.0 - tokens) / rate)
    return Decision(
        allowed=allowed,
        limit=tier.burst,
        remaining=max(0, math.floor(tokens)),
        reset_at=math.ceil(now + full_in),
        retry_after=max(retry, 0 if allowed else 1),
        tier=tier_name,
        per_minute=tier.per_minute,
        window_seconds=math.ceil(tier.burst / rate),
    )


class MemoryRateLimiter:
    """One process's buckets. The event loop runs ``take`` without awaiting, so it is atomic.

    A bucket that has refilled completely carries no information (a missing key
    starts full), so once the table holds ``max_keys`` buckets the full ones are
    dropped; buckets still refilling are kept, whatever their tier's pace.
    """

    def __init__(self, max_keys: int = 100_000) -> None:
        # key -> (tokens, last update, epoch seconds when the bucket is full again)
        self._buckets: dict[str, tuple[float, float, float]] = {}
        self._max_keys = max_keys
        self._sweep_at = max_keys

    async def take(self, key: str, tier_name: str, tier: RateTier) -> Decision:
        now = time.time()
        rate = tier.per_minute / 60.0
        tokens, last, _full_at = self._buckets.get(key, (float(tier.burst), now, now))
        # max(0, ...): a wall clock stepped backwards must not drain the bucket.
        tokens = min(float(tier.burst), tokens + max(0.0, now - last) * rate)
        allowed = tokens >= 1.0
        if allowed:
            tokens -= 1.0
        if key not in self._buckets and len(self._buckets) >= self._sweep_at:
            self._evict_full(now)
        self._buckets[key] = (tokens, now, now + (tier.burst - tokens) / rate)
        return _decision(allowed, tokens, now, tier_name, tier)

    def exhausted(self, key: str, tier: RateTier) -> bool:
        """Whether ``take`` would refuse now (reads the bucket, takes nothing)."""
        entry = self._buckets.get(key)
        if entry is None:
            return False
        tokens, last, _full_at = entry
        now = time.time()
        return min(float(tier.burst), tokens + max(0.0, now - last) * tier.per_minute / 60.0) < 1.0

    def _evict_full(self, now: float) -> None:
        for key, (_tokens, _last, full_at) in list(self._buckets.items()):
            if full_at <= now:
                del self._buckets[key]
        # Sweep again only once the table has doubled, so a flood of distinct keys
        # (all still refilling) costs amortised O(1) per request, not O(n).
        self._sweep_at = max(self._max_keys, 2 * len(self._buckets))

    async def close(self) -> None:
        return None


# KEYS[1] bucket; ARGV: burst, rate per second, ttl seconds. Uses the Redis clock so
# replicas with skewed clocks agree. Returns {allowed, tokens*1000, now_ms}.
_TAKE_SCRIPT = """
local burst = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil then
  tokens = burst
  ts = now
end
tokens = math.min(burst, tokens + math.max(0, now - ts) / 1000.0 * rate)
local allowed = 0
if tokens >= 1 then
  allowed = 1
  tokens = tokens - 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('EXPIRE', KEYS[1], ttl)
return {allowed, math.floor(tokens * 1000), now}
"""


class RedisRateLimiter:
    """Buckets shared by every replica; one Lua script makes read-refill-take atomic."""

    def __init__(self, url: str, prefix: str = "shiplane:rl:") -> None:
        import redis.asyncio as redis_asyncio

        self._redis = redis_asyncio.Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=1.0)
        self._script = self._redis.register_script(_TAKE_SCRIPT)
        self._prefix = prefix
        # Redis only speeds up sharing; it is not the source of truth. While it is
        # unreachable each replica limits on its own, rather than refusing traffic.
        self._fallback = MemoryRateLimiter()
        self._last_warning = 0.0
        self.degraded = False

    async def take(self, key: str, tier_name: str, tier: RateTier) -> Decision:
        from redis.exceptions import RedisError

        rate = tier.per_minute / 60.0
        ttl = math.ceil(tier.burst / rate) + 60
        try:
            allowed, milli_tokens, now_ms = await self._script(
                keys=[self._prefix + key], args=[tier.burst, repr(rate), ttl]
            )
        except (RedisError, OSError) as exc:
            self.degraded = True
            if time.monotonic() - self._last_warning > 30:
                self._last_warning = time.monotonic()
                log.warning("redis unreachable; rate limiting per process", extra={"error": type(exc).__name__})
            return await self._fallback.take(key, tier_name, tier)
        self.degraded = False
        return _decision(bool(allowed), int(milli_tokens) / 1000.0, int(now_ms) / 1000.0, tier_name, tier)

    async def close(self) -> None:
        await self._redis.aclose()


def rate_limit_headers(decision: Decision) -> dict[str, str]:
    now = time.time()
    full_in = max(0, decision.reset_at - math.floor(now))
    return {
        "X-RateLimit-Limit": str(decision.limit),
        "X-RateLimit-Remaining": str(decision.remaining),
        "X-RateLimit-Reset": str(decision.reset_at),
        # IETF draft-ietf-httpapi-ratelimit-headers: the policy (quota q over window w
        # seconds) and the current state (r remaining, t seconds until refilled).
        "RateLimit-Policy": f'"{decision.tier}";q={decision.limit};w={decision.window_seconds}',
        "RateLimit": f'"{decision.tier}";r={decision.remaining};t={full_in}',
    }
