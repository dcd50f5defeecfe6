"""audit reports (made in the background)

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-30 15:00:00
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
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


def upgrade() -> None:
    op.create_table(
        "audit_reports",
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("environment_ids", sa.JSON(), nullable=False),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("requested_by", sa.String(length=255), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("changes", sa.BigInteger(), nullable=False),
        sa.Column("digest", sa.String(length=80), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_reports_tenant_id", "audit_reports", ["tenant_id"])
    for column in ("state", "created_at"):
        op.create_index(f"ix_audit_reports_tenant_{column}", "audit_reports", ["tenant_id", column, "id"])
    _counted("audit_reports")


def downgrade() -> None:
    op.drop_table("audit_reports")
    op.execute("DELETE FROM tenant_row_counts WHERE resource IN ('audit_reports')")
