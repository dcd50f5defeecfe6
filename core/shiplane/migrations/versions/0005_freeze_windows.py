"""freeze windows of environments

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 06:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "freeze_windows",
        sa.Column("environment_id", sa.String(length=36), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rrule", sa.String(length=300), nullable=True),
        sa.Column("duration_seconds", sa.Integer(), nullable=True),
        sa.Column("time_zone", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("override_roles", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(["environment_id"], ["environments.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("freeze_windows", schema=None) as batch_op:
        batch_op.create_index("ix_freeze_windows_tenant_id", ["tenant_id"], unique=False)
        batch_op.create_index(
            "ix_freeze_windows_tenant_environment", ["tenant_id", "environment_id", "created_at"], unique=False
        )


def downgrade() -> None:
    op.drop_table("freeze_windows")
