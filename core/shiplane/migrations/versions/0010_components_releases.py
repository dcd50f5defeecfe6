"""components, their versions, and releases

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 09:00:00
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
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


def _sort_column(column: str, nullable: bool) -> str | sa.TextClause:
    # Lists order NULL first ascending on both databases (see migration 0004).
    if nullable and op.get_bind().dialect.name == "postgresql":
        return sa.text(f"{column} NULLS FIRST")
    return column


def upgrade() -> None:
    op.create_table(
        "components",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("integration_id", sa.String(length=36), sa.ForeignKey("integrations.id"), nullable=False),
        sa.Column("reference", sa.String(length=500), nullable=False),
        sa.Column("version_pattern", sa.String(length=1000), nullable=True),
        sa.Column("version_pattern_type", sa.String(length=8), nullable=False),
        sa.Column("sync_status", sa.String(length=16), nullable=False),
        sa.Column("sync_message", sa.Text(), nullable=False),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version_count", sa.Integer(), nullable=False),
        *_owned(),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "name", name="uq_components_tenant_name"),
    )
    op.create_index("ix_components_tenant_id", "components", ["tenant_id"])
    for column in ("integration_id", "created_at", "updated_at"):
        op.create_index(f"ix_components_tenant_{column}", "components", ["tenant_id", column, "id"])
    _counted("components")

    precedence = sa.String(length=200).with_variant(sa.String(length=200, collation="C"), "postgresql")
    op.create_table(
        "component_versions",
        sa.Column(
            "component_id", sa.String(length=36), sa.ForeignKey("components.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("tag", sa.String(length=255), nullable=False),
        sa.Column("digest", sa.String(length=200), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("precedence", precedence, nullable=False),
        *_owned(),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "component_id", "tag", name="uq_component_versions_tag"),
    )
    op.create_index("ix_component_versions_tenant_id", "component_versions", ["tenant_id"])
    for name, column in (("precedence", "precedence"), ("published", "published_at"), ("created", "created_at")):
        op.create_index(
            f"ix_component_versions_{name}",
            "component_versions",
            ["tenant_id", "component_id", _sort_column(column, column == "published_at"), "id"],
        )

    op.create_table(
        "releases",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("components", sa.JSON(), nullable=False),
        sa.Column("manifest_digest", sa.String(length=80), nullable=True),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("sealed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sealed_by", sa.String(length=255), nullable=True),
        sa.Column("deprecated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deprecated_by", sa.String(length=255), nullable=True),
        sa.Column("deprecation_reason", sa.Text(), nullable=True),
        sa.Column("first_promoted_at", sa.DateTime(timezone=True), nullable=True),
        *_owned(),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "name", name="uq_releases_tenant_name"),
    )
    op.create_index("ix_releases_tenant_id", "releases", ["tenant_id"])
    for column in ("state", "sealed_at", "created_at", "updated_at"):
        op.create_index(
            f"ix_releases_tenant_{column}", "releases", ["tenant_id", _sort_column(column, column == "sealed_at"), "id"]
        )
    _counted("releases")


def downgrade() -> None:
    op.drop_table("releases")
    op.drop_table("component_versions")
    op.drop_table("components")
    op.execute("DELETE FROM tenant_row_counts WHERE resource IN ('components', 'releases')")
