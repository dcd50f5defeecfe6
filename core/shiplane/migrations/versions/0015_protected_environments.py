"""protected environments (who may promote into one and roll it back), rollback policies,
variable sets (the environment's, and each deployment's snapshot)

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30 12:55:00
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
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
    with op.batch_alter_table("environments") as batch:
        batch.add_column(sa.Column("protection", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("rollback_policy", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("variable_set_ids", sa.JSON(), nullable=True))
    with op.batch_alter_table("deployment_jobs") as batch:
        batch.add_column(sa.Column("variables", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("seq", sa.BigInteger(), nullable=False, server_default="0"))
    op.create_table(
        "deployment_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=128), nullable=False),
        sa.Column(
            "job_id", sa.String(length=36), sa.ForeignKey("deployment_jobs.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("target_id", sa.String(length=36), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_deployment_events_tenant_id", "deployment_events", ["tenant_id"])
    op.create_index("ix_deployment_events_job_seq", "deployment_events", ["job_id", "seq"], unique=True)
    op.create_table(
        "variable_sets",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("variables", sa.JSON(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "name", name="uq_variable_sets_tenant_name"),
    )
    op.create_index("ix_variable_sets_tenant_id", "variable_sets", ["tenant_id"])
    for column in ("created_at", "updated_at"):
        op.create_index(f"ix_variable_sets_tenant_{column}", "variable_sets", ["tenant_id", column, "id"])
    _counted("variable_sets")


def downgrade() -> None:
    op.drop_table("deployment_events")
    op.drop_table("variable_sets")
    op.execute("DELETE FROM tenant_row_counts WHERE resource IN ('variable_sets')")
    with op.batch_alter_table("deployment_jobs") as batch:
        batch.drop_column("seq")
        batch.drop_column("variables")
    with op.batch_alter_table("environments") as batch:
        batch.drop_column("variable_set_ids")
        batch.drop_column("rollback_policy")
        batch.drop_column("protection")
