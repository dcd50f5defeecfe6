"""approval policies, promotions and their approvals

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 12:10:00
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def _owned() -> list[sa.Column]:
    return [
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.String(length=128), nullable=False),
    ]


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


def upgrade() -> None:
    op.create_table(
        "approval_policies",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("required_approvals", sa.Integer(), nullable=False),
        sa.Column("approver_roles", sa.JSON(), nullable=False),
        sa.Column("approver_users", sa.JSON(), nullable=False),
        sa.Column("allow_self_approval", sa.Boolean(), nullable=False),
        sa.Column("expires_after_seconds", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        *_owned(),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "name", name="uq_approval_policies_tenant_name"),
    )
    op.create_index("ix_approval_policies_tenant_id", "approval_policies", ["tenant_id"])
    for column in ("created_at", "updated_at"):
        op.create_index(f"ix_approval_policies_tenant_{column}", "approval_policies", ["tenant_id", column, "id"])
    _counted("approval_policies")

    op.create_table(
        "promotions",
        sa.Column("release_id", sa.String(length=36), nullable=False),
        sa.Column("environment_id", sa.String(length=36), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("requested_by", sa.String(length=255), nullable=False),
        sa.Column("state", sa.String(length=24), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("gates", sa.JSON(), nullable=False),
        sa.Column("evaluated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("policy", sa.JSON(), nullable=True),
        sa.Column("freeze_override", sa.JSON(), nullable=True),
        sa.Column("recheck_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        *_owned(),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_promotions_tenant_id", "promotions", ["tenant_id"])
    for column in ("state", "release_id", "environment_id", "created_at", "updated_at"):
        op.create_index(f"ix_promotions_tenant_{column}", "promotions", ["tenant_id", column, "id"])
    op.create_index("ix_promotions_recheck", "promotions", ["state", "recheck_at"])
    _counted("promotions")

    op.create_table(
        "promotion_approvals",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=128), nullable=False),
        sa.Column(
            "promotion_id", sa.String(length=36), sa.ForeignKey("promotions.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("decision", sa.String(length=8), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("promotion_id", "user_id", name="uq_promotion_approvals_user"),
    )
    op.create_index("ix_promotion_approvals_tenant_id", "promotion_approvals", ["tenant_id"])


def downgrade() -> None:
    op.drop_table("promotion_approvals")
    op.drop_table("promotions")
    op.drop_table("approval_policies")
    op.execute("DELETE FROM tenant_row_counts WHERE resource IN ('approval_policies', 'promotions')")
