"""A/B releases (progressive delivery) and their analysis measurements

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-30 14:50:00
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
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
    with op.batch_alter_table("deployment_jobs") as batch:
        batch.add_column(sa.Column("target_labels", sa.JSON(), nullable=True))
    op.create_table(
        "ab_releases",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("environment_id", sa.String(length=36), nullable=False),
        sa.Column("control_release_id", sa.String(length=36), nullable=False),
        sa.Column("candidate_release_id", sa.String(length=36), nullable=False),
        sa.Column("strategy", sa.String(length=64), nullable=False),
        sa.Column("strategy_config", sa.JSON(), nullable=False),
        sa.Column("steps", sa.JSON(), nullable=False),
        sa.Column("router_instance_id", sa.String(length=36), nullable=False),
        sa.Column("analysis", sa.JSON(), nullable=False),
        sa.Column("candidate_target_labels", sa.JSON(), nullable=True),
        sa.Column("deployment_job_id", sa.String(length=36), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("step_index", sa.Integer(), nullable=False),
        sa.Column("step_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_check_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("weights", sa.JSON(), nullable=False),
        sa.Column("applied_weights", sa.JSON(), nullable=True),
        sa.Column("apply_error", sa.Text(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("inconclusive", sa.Integer(), nullable=False),
        sa.Column("passes", sa.Integer(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "name", name="uq_ab_releases_tenant_name"),
    )
    op.create_index("ix_ab_releases_tenant_id", "ab_releases", ["tenant_id"])
    for column in ("state", "environment_id", "created_at", "updated_at"):
        op.create_index(f"ix_ab_releases_tenant_{column}", "ab_releases", ["tenant_id", column, "id"])
    op.create_index("ix_ab_releases_due", "ab_releases", ["next_check_at"])
    _counted("ab_releases")

    op.create_table(
        "ab_measurements",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=128), nullable=False),
        sa.Column(
            "ab_release_id", sa.String(length=36), sa.ForeignKey("ab_releases.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.Column("threshold", sa.JSON(), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_ab_measurements_tenant_id", "ab_measurements", ["tenant_id"])
    op.create_index("ix_ab_measurements_release", "ab_measurements", ["ab_release_id", "id"])


def downgrade() -> None:
    op.drop_table("ab_measurements")
    op.drop_table("ab_releases")
    with op.batch_alter_table("deployment_jobs") as batch:
        batch.drop_column("target_labels")
    op.execute("DELETE FROM tenant_row_counts WHERE resource IN ('ab_releases')")
