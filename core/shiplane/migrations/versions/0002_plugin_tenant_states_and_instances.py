"""plugin tenant states and instances

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 21:29:17.828992
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "plugin_instances",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("plugin_id", sa.String(length=128), nullable=False),
        sa.Column("capability_kind", sa.String(length=32), nullable=False),
        sa.Column("capability_id", sa.String(length=128), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "name", name="uq_plugin_instances_tenant_name"),
    )
    with op.batch_alter_table("plugin_instances", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_plugin_instances_plugin_id"), ["plugin_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_plugin_instances_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "plugin_tenant_states",
        sa.Column("plugin_id", sa.String(length=128), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("changed_by", sa.String(length=255), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "plugin_id", name="uq_plugin_states_tenant_plugin"),
    )
    with op.batch_alter_table("plugin_tenant_states", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_plugin_tenant_states_tenant_id"), ["tenant_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("plugin_tenant_states", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_plugin_tenant_states_tenant_id"))

    op.drop_table("plugin_tenant_states")
    with op.batch_alter_table("plugin_instances", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_plugin_instances_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_plugin_instances_plugin_id"))

    op.drop_table("plugin_instances")
