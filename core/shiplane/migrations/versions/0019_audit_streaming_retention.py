"""audit streaming cursors (SIEM sinks) and retention policies

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-30 15:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_sink_cursors",
        sa.Column("integration_id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=128), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("integration_id"),
    )
    op.create_index("ix_audit_sink_cursors_tenant_id", "audit_sink_cursors", ["tenant_id"])
    op.create_table(
        "retention_policies",
        sa.Column("tenant_id", sa.String(length=128), nullable=False),
        sa.Column("evidence_days", sa.Integer(), nullable=True),
        sa.Column("logs_days", sa.Integer(), nullable=True),
        sa.Column("artifacts_days", sa.Integer(), nullable=True),
        sa.Column("updated_by", sa.String(length=255), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_pruned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_pruned", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id"),
    )


def downgrade() -> None:
    op.drop_table("retention_policies")
    op.drop_table("audit_sink_cursors")
