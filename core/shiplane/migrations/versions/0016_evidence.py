"""signed evidence: the server's published signing keys, evidence packets, version stickers

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30 14:40:00
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def _counted(table: str) -> None:
    # The row-count triggers of migration 0004, as every listed table has them.
    spec = importlib.util.spec_from_file_location(
        "shiplane_migration_0004", Path(__file__).with_name("0004_read_path.py")
    )
    assert spec is not None and spec.loader is not None
    read_path = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(read_path)
    for statement in read_path.row_count_triggers(op.get_bind().dialect.name, table):
        op.execute(statement)


def _owned() -> list[sa.Column | sa.PrimaryKeyConstraint]:
    return [
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    ]


def upgrade() -> None:
    op.create_table(
        "signing_keys",
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("algorithm", sa.String(length=32), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key_id"),
    )

    op.create_table(
        "evidence_packets",
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("promotion_id", sa.String(length=36), nullable=True),
        sa.Column("deployment_job_id", sa.String(length=36), nullable=True),
        sa.Column("release_id", sa.String(length=36), nullable=False),
        sa.Column("environment_id", sa.String(length=36), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("subject_digest", sa.String(length=80), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("payload_sha256", sa.String(length=64), nullable=False),
        sa.Column("envelope", sa.Text(), nullable=False),
        *_owned(),
    )
    op.create_index("ix_evidence_packets_tenant_id", "evidence_packets", ["tenant_id"])
    for column in ("kind", "release_id", "environment_id", "created_at"):
        op.create_index(f"ix_evidence_packets_tenant_{column}", "evidence_packets", ["tenant_id", column, "id"])
    op.create_index("ix_evidence_packets_promotion", "evidence_packets", ["promotion_id"])
    op.create_index("ix_evidence_packets_job", "evidence_packets", ["deployment_job_id"])
    _counted("evidence_packets")

    op.create_table(
        "version_stickers",
        sa.Column("target_id", sa.String(length=36), nullable=False),
        sa.Column("target_name", sa.String(length=100), nullable=False),
        sa.Column("environment_id", sa.String(length=36), nullable=False),
        sa.Column("release_id", sa.String(length=36), nullable=False),
        sa.Column("deployment_job_id", sa.String(length=36), nullable=False),
        sa.Column("manifest_digest", sa.String(length=80), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("deployed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("current", sa.Boolean(), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("sticker", sa.JSON(), nullable=False),
        *_owned(),
    )
    op.create_index("ix_version_stickers_tenant_id", "version_stickers", ["tenant_id"])
    for column in ("target_id", "environment_id", "release_id", "created_at"):
        op.create_index(f"ix_version_stickers_tenant_{column}", "version_stickers", ["tenant_id", column, "id"])
    op.create_index("ix_version_stickers_target_current", "version_stickers", ["target_id", "current"])
    _counted("version_stickers")


def downgrade() -> None:
    op.drop_table("version_stickers")
    op.drop_table("evidence_packets")
    op.drop_table("signing_keys")
    op.execute("DELETE FROM tenant_row_counts WHERE resource IN ('evidence_packets', 'version_stickers')")
