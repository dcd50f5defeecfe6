"""Signing keys (the server's, published), evidence packets and version stickers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from shiplane.platform.database import Base, TenantOwned, UTCDateTime, sort_indexes, utcnow


class SigningKey(Base):
    """A public key the server has signed with. Never deleted: a packet signed before a
    rotation verifies with the key it names."""

    __tablename__ = "signing_keys"

    key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    algorithm: Mapped[str] = mapped_column(String(32), nullable=False, default="ed25519")
    public_key: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    # When a server process last started with this key (the newest is the one in use).
    last_started_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class EvidencePacket(TenantOwned, Base):
    """One signed packet: a promotion's decision or a deployment job's outcome. Immutable."""

    __tablename__ = "evidence_packets"
    __table_args__ = (
        *sort_indexes("evidence_packets", "kind", "release_id", "environment_id", "created_at"),
        Index("ix_evidence_packets_promotion", "promotion_id"),
        Index("ix_evidence_packets_job", "deployment_job_id"),
    )

    kind: Mapped[str] = mapped_column(String(32), nullable=False)  # promotion-decision | deployment-outcome
    promotion_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    deployment_job_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    release_id: Mapped[str] = mapped_column(String(36), nullable=False)
    environment_id: Mapped[str] = mapped_column(String(36), nullable=False)
    outcome: Mapped[str] = mapped_column(String(32), nullable=False)
    subject_digest: Mapped[str] = mapped_column(String(80), nullable=False)
    key_id: Mapped[str] = mapped_column(String(64), nullable=False)
    payload_sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    # The DSSE envelope exactly as signed and downloaded.
    envelope: Mapped[str] = mapped_column(Text, nullable=False)


class VersionSticker(TenantOwned, Base):
    """What a deployment left on a target (signed); ``current`` marks each target's latest."""

    __tablename__ = "version_stickers"
    __table_args__ = (
        *sort_indexes("version_stickers", "target_id", "environment_id", "release_id", "created_at"),
        Index("ix_version_stickers_target_current", "target_id", "current"),
        # At most one current sticker per target (migration 0021).
        Index(
            "uq_version_stickers_target_current",
            "target_id",
            unique=True,
            sqlite_where=text("current"),
            postgresql_where=text("current"),
        ),
    )

    target_id: Mapped[str] = mapped_column(String(36), nullable=False)
    target_name: Mapped[str] = mapped_column(String(100), nullable=False)
    environment_id: Mapped[str] = mapped_column(String(36), nullable=False)
    release_id: Mapped[str] = mapped_column(String(36), nullable=False)
    deployment_job_id: Mapped[str] = mapped_column(String(36), nullable=False)
    manifest_digest: Mapped[str] = mapped_column(String(80), nullable=False)
    actor: Mapped[str] = mapped_column(String(255), nullable=False)
    deployed_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    current: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    key_id: Mapped[str] = mapped_column(String(64), nullable=False)
    # The sticker as signed and written on the target, its signature included.
    sticker: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
