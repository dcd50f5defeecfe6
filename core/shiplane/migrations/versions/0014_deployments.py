"""deployment jobs, their tasks and artifacts; the workflow run of a promotion

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 12:20:00
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
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
    with op.batch_alter_table("promotions") as batch:
        batch.add_column(sa.Column("workflow_run_id", sa.String(length=36), nullable=True))

    op.create_table(
        "deployment_jobs",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("promotion_id", sa.String(length=36), nullable=True),
        sa.Column("workflow_run_id", sa.String(length=36), nullable=True),
        sa.Column("release_id", sa.String(length=36), nullable=False),
        sa.Column("environment_id", sa.String(length=36), nullable=False),
        sa.Column("previous_release_id", sa.String(length=36), nullable=True),
        sa.Column("strategy", sa.String(length=64), nullable=False),
        sa.Column("strategy_config", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=24), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("manifest", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_deployment_jobs_tenant_id", "deployment_jobs", ["tenant_id"])
    for column in ("state", "environment_id", "release_id", "created_at", "updated_at"):
        op.create_index(f"ix_deployment_jobs_tenant_{column}", "deployment_jobs", ["tenant_id", column, "id"])
    _counted("deployment_jobs")

    op.create_table(
        "deployment_tasks",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=128), nullable=False),
        sa.Column(
            "job_id", sa.String(length=36), sa.ForeignKey("deployment_jobs.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("target_id", sa.String(length=36), nullable=False),
        sa.Column("target_name", sa.String(length=100), nullable=False),
        sa.Column("agent_id", sa.String(length=36), nullable=True),
        sa.Column("batch", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("work_item_id", sa.String(length=36), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("log", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("job_id", "target_id", name="uq_deployment_tasks_target"),
    )
    op.create_index("ix_deployment_tasks_tenant_id", "deployment_tasks", ["tenant_id"])
    op.create_index("ix_deployment_tasks_job", "deployment_tasks", ["job_id", "batch", "target_name"])

    op.create_table(
        "deployment_artifacts",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=128), nullable=False),
        sa.Column(
            "job_id", sa.String(length=36), sa.ForeignKey("deployment_jobs.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=255), nullable=False),
        sa.Column("digest", sa.String(length=80), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("job_id", "name", name="uq_deployment_artifacts_name"),
    )
    op.create_index("ix_deployment_artifacts_tenant_id", "deployment_artifacts", ["tenant_id"])


def downgrade() -> None:
    op.drop_table("deployment_artifacts")
    op.drop_table("deployment_tasks")
    op.drop_table("deployment_jobs")
    op.execute("DELETE FROM tenant_row_counts WHERE resource IN ('deployment_jobs')")
    with op.batch_alter_table("promotions") as batch:
        batch.drop_column("workflow_run_id")
