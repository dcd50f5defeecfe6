"""Settings, read from the environment with the ``SHIPLANE_`` prefix.

Outside development mode the server refuses to start with a secret it made up
itself: production must be given its keys explicitly.
"""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class RateTier(BaseModel):
    """A token bucket: ``burst`` tokens, refilled at ``per_minute / 60`` per second."""

    per_minute: int = Field(gt=0)
    burst: int = Field(gt=0)


DEFAULT_TIERS = {
    "standard": RateTier(per_minute=1000, burst=100),
    "premium": RateTier(per_minute=5000, burst=500),
}


class InsecureSettingsError(RuntimeError):
    """Raised at start-up when production would run on a development secret."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHIPLANE_", env_nested_delimiter="__", extra="ignore")

    mode: Literal["development", "production"] = "development"
    data_dir: Path = Path(".shiplane")
    database_url: str | None = None
    redis_url: str | None = None

    # Authentication (DESIGN §3).
    auth_issuer: str = "shiplane-dev"
    auth_audience: str = "shiplane"
    auth_hs_secret: str | None = None
    auth_public_keys: list[str] = Field(default_factory=list)  # PEM public keys (RS256/ES256)
    auth_jwks_url: str | None = None
    auth_jwks_cache_seconds: int = 300
    auth_jwks_min_refresh_seconds: float = 10.0
    # How long the last fetched JWKS keeps verifying while the provider cannot be reached.
    auth_jwks_max_stale_seconds: float = Field(default=3600.0, gt=0)
    auth_algorithms: list[str] = Field(default_factory=lambda: ["HS256", "RS256", "ES256"])
    auth_leeway_seconds: int = 30

    # Service accounts' access tokens (docs/authentication.md): the server's own OAuth 2.0
    # authority. ES256 key (a P-256 PEM private key; development makes one in the data
    # directory; production without one answers /oauth/token with 503), the issuer its
    # tokens carry (set it to the server's public URL; it must differ from
    # SHIPLANE_AUTH_ISSUER), how long a token lives, and the token endpoint's rate.
    oauth_signing_key_path: Path | None = None
    oauth_issuer: str = "shiplane"
    oauth_token_seconds: int = Field(default=900, ge=60, le=3600)
    oauth_token_rate: RateTier = Field(default_factory=lambda: RateTier(per_minute=60, burst=20))

    encryption_key: str | None = None
    signing_key_path: Path | None = None  # Ed25519 PEM private key (audit checkpoints, evidence)

    rate_limit_enabled: bool = True
    rate_limit_tiers: dict[str, RateTier] = Field(default_factory=lambda: dict(DEFAULT_TIERS))
    tenant_tiers: dict[str, str] = Field(default_factory=dict)

    # Plugins (DESIGN §4). Allow/deny lists hold plugin ids (entry-point names).
    plugins_allow: list[str] | None = None
    plugins_deny: list[str] = Field(default_factory=list)
    plugins_enabled_by_default: bool = False
    # Where plugins run (docs/plugins/isolation.md): third-party plugins in worker
    # processes, first-party ones in the server, unless named here ("*": every plugin).
    plugins_in_process: list[str] = Field(default_factory=list)
    plugins_out_of_process: list[str] = Field(default_factory=list)
    plugin_workers_per_plugin: int = Field(default=2, ge=1, le=32)
    plugin_worker_memory_mb: int = Field(default=1024, ge=0)  # address space per worker (0: no limit)
    plugin_worker_cpu_seconds: int = Field(default=3600, ge=0)  # CPU time per worker's life (0: no limit)
    plugin_worker_start_timeout_seconds: float = Field(default=30.0, gt=0)
    plugin_call_timeout_seconds: float = Field(default=10.0, gt=0)
    plugin_breaker_threshold: int = Field(default=5, ge=1)
    plugin_breaker_reset_seconds: float = Field(default=30.0, gt=0)
    # Every plugin's own plugin_health is probed this often in the background (0: only on request).
    plugin_health_probe_seconds: float = Field(default=30.0, ge=0, le=60)
    event_delivery_enabled: bool = True
    # Notification integrations (webhook, smtp): attempts per delivery, and the first
    # retry's delay (doubling per attempt, at most 10 minutes).
    # Run the workflow engine in this process (claim and run workflow steps).
    workflow_engine_enabled: bool = True
    # How long a claimed workflow step is this process's before another may take it over
    # (renewed while the step runs): how soon a crashed process's steps resume elsewhere.
    workflow_lease_seconds: float = Field(default=30.0, ge=2, le=600)
    # How often each process looks for blocked promotions whose cause may have ended (a freeze
    # window's end, or a minute after another gate blocked) and waiting ones past their expiry.
    promotion_sweep_seconds: float = Field(default=15.0, ge=0.2, le=3600)
    # How often each server looks for A/B releases due for analysis or a step.
    ab_sweep_seconds: float = Field(default=2.0, ge=0.1, le=3600)
    # How often each server looks for audit reports still pending (their maker died).
    audit_report_sweep_seconds: float = Field(default=30.0, ge=0.2, le=3600)
    # The egress policy (platform/egress.py) for connections the server makes to tenant-named
    # URLs (A/B probes): CIDRs refused (None: the defaults, loopback too in production) and
    # CIDRs allowed even inside a refused one.
    egress_deny_networks: list[str] | None = None
    egress_allow_networks: list[str] = Field(default_factory=list)
    # How often each server forwards new audit events to the tenants' SIEM sinks.
    audit_stream_seconds: float = Field(default=2.0, ge=0.1, le=3600)
    notification_max_attempts: int = Field(default=20, ge=1, le=100)
    notification_retry_seconds: float = Field(default=5.0, gt=0, le=600)
    # Agents (docs/agents.md): how often they heartbeat, and after how long without one
    # an agent shows offline.
    agent_heartbeat_seconds: float = Field(default=10.0, gt=0, le=300)
    agent_liveness_seconds: float = Field(default=30.0, gt=0, le=3600)
    # `shiplane serve` runs a local agent in its own process (docs/agents.md), registered
    # in this tenant as "local"; off in production unless set.
    local_agent: bool | None = None
    local_agent_tenant: str = Field(default="demo", min_length=1, max_length=128)
    # Whether the local agent runs `script` workflow steps (on the server's host, as its
    # user, which can read the server's keys): off unless the operator turns it on.
    local_agent_scripts: bool = False
    # A task's lease: how long an agent holds it without renewing (it renews at a third).
    agent_task_lease_seconds: float = Field(default=60.0, gt=0, le=3600)
    # Delivered outbox rows are deleted after this many hours (undelivered ones never).
    outbox_retention_hours: float = Field(default=168.0, gt=0)
    # The read path (platform/reads.py): threads (and connections) for SQLite reads,
    # pooled connections for PostgreSQL reads (beside the write pool).
    sqlite_read_threads: int = Field(default=4, ge=1, le=64)
    database_read_pool_size: int = Field(default=10, ge=1, le=500)
    # How soon another process's plugin enable/disable shows in this one's reads.
    plugin_state_poll_seconds: float = Field(default=1.0, gt=0, le=60)

    # Largest request body accepted, in bytes (413 PAYLOAD_TOO_LARGE above it).
    max_body_bytes: int = Field(default=1024 * 1024, ge=1)

    log_level: str = "INFO"
    host: str = "127.0.0.1"
    port: int = 8080

    @field_validator("auth_algorithms")
    @classmethod
    def _no_none_algorithm(cls, value: list[str]) -> list[str]:
        allowed = {"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "ES512"}
        bad = [alg for alg in value if alg not in allowed]
        if bad:
            raise ValueError(f"unsupported JWT algorithms: {bad}")
        return value

    @field_validator("auth_jwks_url")
    @classmethod
    def _jwks_url_is_http(cls, value: str | None) -> str | None:
        if value is None:
            return value
        parsed = urlsplit(value)
        try:
            parsed.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError as exc:
            raise ValueError(f"invalid JWKS URL: {exc}") from None
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError("the JWKS URL must be an http(s) URL with a host")
        return value

    @property
    def is_development(self) -> bool:
        return self.mode == "development"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'shiplane.db').resolve()}"

    def prepare(self) -> Settings:
        """Fill development defaults (persisted in the data directory) or refuse unsafe ones."""
        if self.is_development:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            if self.auth_hs_secret is None:
                self.auth_hs_secret = _persistent_secret(self.data_dir / "dev-jwt-secret")
            if self.encryption_key is None:
                self.encryption_key = _persistent_secret(self.data_dir / "dev-encryption-key")
            return self
        problems = []
        if not (self.auth_hs_secret or self.auth_public_keys or self.auth_jwks_url):
            problems.append("no token verification key (SHIPLANE_AUTH_HS_SECRET, _PUBLIC_KEYS or _JWKS_URL)")
        if self.auth_hs_secret is not None and len(self.auth_hs_secret) < 32:
            problems.append("SHIPLANE_AUTH_HS_SECRET is shorter than 32 characters")
        if not self.encryption_key:
            problems.append("SHIPLANE_ENCRYPTION_KEY is not set")
        if not self.database_url:
            problems.append("SHIPLANE_DATABASE_URL is not set")
        if self.oauth_issuer == self.auth_issuer:
            problems.append("SHIPLANE_OAUTH_ISSUER must differ from SHIPLANE_AUTH_ISSUER")
        if self.signing_key_path is None:
            problems.append("SHIPLANE_SIGNING_KEY_PATH is not set (evidence and version stickers are signed)")
        if problems:
            raise InsecureSettingsError("refusing to start in production mode: " + "; ".join(problems))
        return self


def _persistent_secret(path: Path) -> str:
    if path.exists():
        return path.read_text().strip()
    value = secrets.token_urlsafe(48)
    path.write_text(value)
    path.chmod(0o600)
    return value


@lru_cache
def get_settings() -> Settings:
    return Settings().prepare()
