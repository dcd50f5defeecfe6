from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shiplane.platform.database import Base, TenantOwned, UTCDateTime, sort_indexes, utcnow


class ServiceAccount(TenantOwned, Base):
    """A machine's identity in one tenant (a CI pipeline, a script): roles, and a client
    secret of which only the SHA-256 is stored. Its ``id`` is the OAuth ``client_id``."""

    __tablename__ = "service_accounts"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name", name="uq_service_accounts_tenant_name"),
        *sort_indexes("service_accounts", "created_at", "updated_at"),
    )

    name: Mapped[str] = mapped_column(String(100), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    roles: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    secret_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    secret_rotated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    # Revoked: its secret and every token issued to it stop working at once.
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_token_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_by: Mapped[str] = mapped_column(String(255), nullable=False)


class OAuthSigningKey(Base):
    """A public key the server has signed access tokens with, published in the JWKS while
    tokens it signed may still be valid."""

    __tablename__ = "oauth_signing_keys"

    key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    algorithm: Mapped[str] = mapped_column(String(16), nullable=False)
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    # When a process last signed (or started) with it; the JWKS keeps it until every token
    # it may have signed has expired.
    last_used_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
