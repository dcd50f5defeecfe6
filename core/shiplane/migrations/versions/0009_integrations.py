"""integrations, counted like every listed table

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 08:00:00
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

SORTED = ("type_id", "health_status", "created_at", "updated_at")


def upgrade() -> None:
    op.create_table(
        "integrations",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("type_id", sa.String(length=128), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("health_status", sa.String(length=16), nullable=False),
        sa.Column("health_message", sa.Text(), nullable=False),
        sa.Column("health_checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("health_latency_ms", sa.Float(), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "name", name="uq_integrations_tenant_name"),
    )
    op.create_index("ix_integrations_tenant_id", "integrations", ["tenant_id"])
    for column in SORTED:
        op.create_index(f"ix_integrations_tenant_{column}", "integrations", ["tenant_id", column, "id"])
    # The row-count triggers of migration 0004, as every listed table has them.
    spec = importlib.util.spec_from_file_location(
        "shiplane_migration_0004", Path(__file__).with_name("0004_read_path.py")
    )
    assert spec is not None and spec.loader is not None
    read_path = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(read_path)
    for statement in read_path.row_count_triggers(op.get_bind().dialect.name, "integrations"):
        op.execute(statement)


def downgrade() -> None:
    op.drop_table("integrations")
    op.execute("DELETE FROM tenant_row_counts WHERE resource = 'integrations'")
